//! Planning a move: mailbox lists, folder discovery and filters, newest-first ordering, the
//! pre-flight assessment.

pub mod assessment;
pub mod folder_filter;
pub mod folders;
pub mod mailbox_list;
pub mod message_filter;
pub mod order;
