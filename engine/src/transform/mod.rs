//! Transforms: pure, synchronous changes to one message or one name on its way to the destination.

pub mod address_rewrite;
