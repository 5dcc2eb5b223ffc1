//! A transform hook that misbehaves on purpose, as `with = { mode = "..." }` says: spin
//! forever, eat memory, return a huge resource, panic, or fail with an error. The host must
//! stop each and fail only the resource.

use ferry_hook_sdk::{Context, Hook, Outcome, Resource, Value};

struct Hostile;

impl Hook for Hostile {
    fn apply(ctx: &Context, mut res: Resource) -> Result<Outcome, String> {
        match ctx.param("mode", "") {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "huge" => {
                res.body["big"] = Value::String("x".repeat(6 << 20));
                Ok(Outcome::Keep(res))
            }
            "panic" => panic!("the hostile hook panics on purpose"),
            "error" => Err(format!(
                "{} {} is not allowed in {}",
                res.kind, res.key, ctx.target_env
            )),
            _ => Ok(Outcome::Keep(res)),
        }
    }
}

ferry_hook_sdk::export_hook!(Hostile);
