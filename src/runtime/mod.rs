//! The runtime: what happens in a call. [`Cache`](cache::Cache) is one
//! namespace's typed view; [`pipeline`] is the one path every call takes
//! (mode table, lookup, compute-once, store); [`lookup`] judges records;
//! [`slot`] opens a cached function's cache on first use; [`batch`] and
//! [`out_files`] adapt their call kinds to the pipeline; [`stats`] counts
//! outcomes; [`warn_once`] says each trouble once per namespace.

pub(crate) mod batch;
pub(crate) mod cache;
pub(crate) mod lookup;
pub(crate) mod mode;
pub(crate) mod out_files;
pub(crate) mod pipeline;
pub(crate) mod slot;
pub(crate) mod stats;
pub(crate) mod warn_once;
