//! Planning a move: mailbox lists, folder discovery, newest-first ordering.
