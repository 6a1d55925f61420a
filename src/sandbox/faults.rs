//! Which tenants misbehave in the `flaky`, `slow` and `malformed` scenarios,
//! and how. Chosen by hashing the seed with the id, not by drawing from an
//! RNG, so the same tenants misbehave in the same way whatever order (or
//! concurrency) the client uses.

use uuid::Uuid;

use super::hash::{id_hash, mix64};

/// Salts keep the three selections independent: a flaky tenant is no more
/// likely to be slow or malformed.
const SALT_FLAKY: u64 = 0x0066_6c61_6b79;
const SALT_SLOW: u64 = 0x736c_6f77;
const SALT_MALFORMED: u64 = 0x6d61_6c66_6f72_6d65;
const SALT_BROKEN: u64 = 0x6272_6f6b_656e;

/// Per mille of tenants that are slow and malformed.
const SLOW_PER_MILLE: u64 = 50;
const MALFORMED_PER_MILLE: u64 = 50;

/// One failed attempt of a flaky tenant (or a dropped request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// 503 with the gateway body.
    Unavailable,
    /// 500 with an `ApiFault` body.
    InternalError,
    /// The connection is closed with no response at all (TCP reset).
    Reset,
    /// Headers announce the full Content-Length, about half the body
    /// arrives, then the connection closes.
    Truncated,
}

impl Fault {
    /// The journal's `outcome` for this fault.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Unavailable => "unavailable",
            Fault::InternalError => "internal-error",
            Fault::Reset => "reset",
            Fault::Truncated => "truncated",
        }
    }
}

/// The broken answer a malformed tenant gets on every attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Malformation {
    /// 200 with the tenant's JSON cut in half (complete HTTP message).
    TruncatedJson,
    /// 200 `text/html`.
    Html,
    /// 200 with an empty body.
    EmptyBody,
    /// 200 with JSON of another shape (a Partner Center collection object).
    WrongShape,
    /// A transport-level truncated body, every time.
    TruncatedForGood,
}

impl Malformation {
    /// Every kind, in selection order.
    pub const ALL: [Malformation; 5] = [
        Malformation::TruncatedJson,
        Malformation::Html,
        Malformation::EmptyBody,
        Malformation::WrongShape,
        Malformation::TruncatedForGood,
    ];

    /// The journal's `outcome` for this malformation.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformation::TruncatedJson => "malformed-truncated-json",
            Malformation::Html => "malformed-html",
            Malformation::EmptyBody => "malformed-empty",
            Malformation::WrongShape => "malformed-wrong-shape",
            Malformation::TruncatedForGood => "truncated",
        }
    }
}

/// How many tenants are flaky (and how flaky), and how many are broken for
/// good. The default is the `flaky` scenario's mix, with no broken tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultShares {
    /// Per mille of tenants that fail their first attempts (when `flaky` is on).
    pub flaky_per_mille: u64,
    /// A flaky tenant fails its first 1 to this many attempts.
    pub flaky_failures: u64,
    /// Per mille of tenants that answer every attempt with the same 500.
    pub broken_per_mille: u64,
}

impl Default for FaultShares {
    fn default() -> Self {
        FaultShares {
            flaky_per_mille: 100,
            flaky_failures: 3,
            broken_per_mille: 0,
        }
    }
}

/// How one tenant misbehaves under a seed, whether or not the scenario that
/// uses it is switched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantFaults {
    /// Failures of attempts 1, 2, … in the `flaky` scenario (empty for most).
    pub flaky: Vec<Fault>,
    /// Answers every attempt with the same 500 (`broken_per_mille`).
    pub broken: bool,
    /// Whether the first attempt is delayed in the `slow` scenario.
    pub slow: bool,
    /// The broken answer in the `malformed` scenario, if this tenant gets one.
    pub malformed: Option<Malformation>,
}

/// A roll in `0..1000` for one tenant, seed and purpose.
fn roll(seed: u64, id: &Uuid, salt: u64) -> u64 {
    id_hash(id, mix64(seed ^ salt)) % 1000
}

/// The misbehaviour of `id` under `seed`: about 10 % flaky (1–3 failures),
/// 5 % slow, 5 % malformed.
pub fn tenant_faults(seed: u64, id: &Uuid) -> TenantFaults {
    tenant_faults_with(seed, id, &FaultShares::default())
}

/// The misbehaviour of `id` under `seed` with other shares of flaky and
/// broken tenants. The flaky tenants of a smaller share are among those of
/// a larger one.
pub fn tenant_faults_with(seed: u64, id: &Uuid, shares: &FaultShares) -> TenantFaults {
    const FLAKY_KINDS: [Fault; 4] = [
        Fault::Unavailable,
        Fault::InternalError,
        Fault::Reset,
        Fault::Truncated,
    ];
    let flaky_roll = roll(seed, id, SALT_FLAKY);
    let flaky = if flaky_roll < shares.flaky_per_mille {
        let h = id_hash(id, mix64(seed ^ SALT_FLAKY ^ 1));
        let failures = 1 + (h % shares.flaky_failures.clamp(1, 8)) as usize;
        (0..failures)
            .map(|k| FLAKY_KINDS[((h >> (8 + 4 * k)) % 4) as usize])
            .collect()
    } else {
        Vec::new()
    };
    let malformed_roll = roll(seed, id, SALT_MALFORMED);
    TenantFaults {
        flaky,
        broken: roll(seed, id, SALT_BROKEN) < shares.broken_per_mille,
        slow: roll(seed, id, SALT_SLOW) < SLOW_PER_MILLE,
        malformed: (malformed_roll < MALFORMED_PER_MILLE)
            .then(|| Malformation::ALL[(malformed_roll % 5) as usize]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::answers::candidate_id;

    #[test]
    fn shares_are_about_right_and_every_kind_occurs() {
        let n = 20_000;
        let (mut flaky, mut slow, mut malformed) = (0, 0, 0);
        let mut kinds = std::collections::HashSet::new();
        let mut malformations = std::collections::HashSet::new();
        for i in 0..n {
            let f = tenant_faults(7, &candidate_id(i));
            assert!(f.flaky.len() <= 3);
            flaky += usize::from(!f.flaky.is_empty());
            slow += usize::from(f.slow);
            malformed += usize::from(f.malformed.is_some());
            kinds.extend(f.flaky);
            malformations.extend(f.malformed);
        }
        let share = |c: usize| c as f64 / n as f64;
        assert!((share(flaky) - 0.10).abs() < 0.02, "{flaky}");
        assert!((share(slow) - 0.05).abs() < 0.015, "{slow}");
        assert!((share(malformed) - 0.05).abs() < 0.015, "{malformed}");
        assert_eq!(kinds.len(), 4);
        assert_eq!(malformations.len(), 5);
    }

    #[test]
    fn other_shares_pick_fewer_flaky_tenants_and_some_broken_ones() {
        let shares = FaultShares {
            flaky_per_mille: 20,
            flaky_failures: 2,
            broken_per_mille: 8,
        };
        let n = 20_000;
        let (mut flaky, mut broken) = (0, 0);
        for i in 0..n {
            let id = candidate_id(i);
            let f = tenant_faults_with(7, &id, &shares);
            assert!(f.flaky.len() <= 2);
            // A smaller share picks among the tenants of the default one.
            assert!(f.flaky.is_empty() || !tenant_faults(7, &id).flaky.is_empty());
            assert!(!tenant_faults(7, &id).broken, "none broken by default");
            flaky += usize::from(!f.flaky.is_empty());
            broken += usize::from(f.broken);
        }
        let share = |c: usize| c as f64 / n as f64;
        assert!((share(flaky) - 0.02).abs() < 0.005, "{flaky}");
        assert!((share(broken) - 0.008).abs() < 0.003, "{broken}");
    }

    #[test]
    fn deterministic_per_seed() {
        let id = candidate_id(3);
        assert_eq!(tenant_faults(1, &id), tenant_faults(1, &id));
        let differs = (0..200).any(|i| {
            let id = candidate_id(i);
            tenant_faults(1, &id) != tenant_faults(2, &id)
        });
        assert!(differs, "the seed must matter");
    }
}
