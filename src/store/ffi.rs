//! The return codes of the calls into LMDB's C API that lmdb-rkv does not
//! wrap (`mdb_stat`, `mdb_env_copy2`, `mdb_txn_renew`, `mdb_env_set_flags`,
//! `mdb_reader_check`): every one goes through [`check`].

/// LMDB's return code as a result: 0 is success, anything else an error.
pub(super) fn check(rc: libc::c_int) -> Result<(), lmdb::Error> {
    if rc == 0 {
        Ok(())
    } else {
        Err(lmdb::Error::from_err_code(rc))
    }
}
