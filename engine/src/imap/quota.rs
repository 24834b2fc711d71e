//! The storage quota of a mailbox: `GETQUOTAROOT` (RFC 2087), checked like every command whose
//! outcome matters (see [`command::run_checked`](super::command::run_checked)).
//!
//! RFC 2087 counts STORAGE in units of 1,024 octets; [`StorageQuota`] holds bytes. A mailbox under
//! several quota roots is as full as its tightest root, so the root with the least room wins.

use super::command::run_checked;
use super::connect::Session;
use crate::error::Result;
use imap_proto::rfc2087::QuotaResourceName;
use imap_proto::Response;
use std::time::Duration;

/// The STORAGE resource of one quota root, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StorageQuota {
    /// Bytes the mailbox may hold.
    pub limit_bytes: u64,
    /// Bytes it holds now.
    pub used_bytes: u64,
}

impl StorageQuota {
    /// Bytes still free (never negative: an over-full mailbox has none).
    pub fn room_bytes(&self) -> u64 {
        self.limit_bytes.saturating_sub(self.used_bytes)
    }
}

/// `GETQUOTAROOT mailbox`: the tightest STORAGE quota over the mailbox's roots, `None` when no
/// root limits storage. `mailbox` is sent quoted and must be a wire (modified UTF-7) name without
/// `"` or `\`; callers pass `INBOX`.
pub async fn storage_quota(
    session: &mut Session,
    server: &str,
    mailbox: &str,
    timeout: Duration,
) -> Result<Option<StorageQuota>> {
    let mut quotas = Vec::new();
    let command = format!("GETQUOTAROOT \"{mailbox}\"");
    run_checked(session, server, &command, &command, timeout, |r| {
        if let Response::Quota(q) = r {
            quotas.extend(q.resources.iter().filter_map(|res| {
                matches!(res.name, QuotaResourceName::Storage).then_some(StorageQuota {
                    limit_bytes: res.limit.saturating_mul(1024),
                    used_bytes: res.usage.saturating_mul(1024),
                })
            }));
        }
        Ok(())
    })
    .await?;
    Ok(tightest(&quotas))
}

/// The quota with the least room left, `None` for none.
pub fn tightest(quotas: &[StorageQuota]) -> Option<StorageQuota> {
    quotas.iter().copied().min_by_key(StorageQuota::room_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightest_root_is_the_one_with_least_room() {
        let big_full = StorageQuota {
            limit_bytes: 100,
            used_bytes: 95,
        };
        let small_empty = StorageQuota {
            limit_bytes: 50,
            used_bytes: 0,
        };
        assert_eq!(tightest(&[small_empty, big_full]), Some(big_full));
        assert_eq!(tightest(&[]), None);
        let over = StorageQuota {
            limit_bytes: 10,
            used_bytes: 20,
        };
        assert_eq!(over.room_bytes(), 0);
    }
}
