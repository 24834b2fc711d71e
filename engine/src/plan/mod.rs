//! Planning a move: mailbox lists, folder discovery, newest-first ordering.

pub mod folders;
pub mod mailbox_list;
pub mod order;
