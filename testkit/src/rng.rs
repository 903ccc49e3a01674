//! A small seeded generator for randomised tests.

/// A small seeded generator (xorshift64) for randomised tests: reproducible per seed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The plan of a randomised run from the environment: `<NAME>_STEPS` (else
/// `default_steps`) and `<NAME>_SEED` (else one from the clock), printed so that a failure
/// can be replayed. Returns the step count, the seed and its generator.
pub fn seeded_run(name: &str, default_steps: u64) -> (u64, u64, Rng) {
    let var = |suffix: &str| {
        std::env::var(format!("{name}_{suffix}"))
            .ok()
            .and_then(|value| value.parse::<u64>().ok())
    };
    let steps = var("STEPS").unwrap_or(default_steps);
    let seed = var("SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    eprintln!("{name}_SEED={seed} {name}_STEPS={steps}");
    (steps, seed, Rng::new(seed))
}
