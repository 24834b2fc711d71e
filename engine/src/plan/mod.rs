//! Planning a move: mailbox lists, folder discovery, newest-first ordering, the pre-flight
//! assessment.

pub mod assessment;
pub mod folders;
pub mod mailbox_list;
pub mod order;
