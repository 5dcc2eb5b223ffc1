//! A plugin that misbehaves on purpose: `list` of each kind breaks one rule of the sandbox.
//! The kind `well` behaves, to show that the next call after a broken one still works.

use ferry_sdk::prelude::*;

macro_rules! hostile {
    ($($ty:ident = $name:literal => |$ctx:ident| $body:expr;)+) => {
        $(
            #[derive(Default)]
            pub struct $ty;
            impl Kind for $ty {
                fn info(&self) -> KindInfo {
                    KindInfo::new($name, "misbehaves on purpose").key(["/name"])
                }
                #[allow(unreachable_code)]
                fn list(&self, $ctx: &Ctx) -> Result<Vec<Resource>> {
                    $body
                }
                fn find(&self, _: &Ctx, _: &Resource) -> Result<Option<Resource>> {
                    Ok(None)
                }
                fn create(&self, _: &Ctx, res: &Resource) -> Result<Resource> {
                    Ok(res.clone())
                }
            }
        )+
        ferry_sdk::export_cloner!($($ty),+);
    };
}

fn one(name: &str) -> Vec<Resource> {
    let body = json!({ "id": 1, "name": name });
    vec![Resource::from_body(
        &KindInfo::new("well", "").key(["/name"]),
        "/id",
        body,
    )]
}

hostile! {
    Well = "well" => |_ctx| Ok(one("fine"));
    Spin = "spin" => |_ctx| {
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    };
    Hog = "hog" => |_ctx| {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            blocks.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&blocks);
        }
    };
    Crash = "crash" => |_ctx| panic!("hostile plugin panics on purpose");
    Escape = "escape" => |_ctx| {
        http::get(Side::Target, "http://example.com/steal", &[])?;
        Ok(one("escaped"))
    };
    Climb = "climb" => |_ctx| {
        http::get(Side::Target, "../other-org/tags/", &[])?;
        Ok(one("climbed"))
    };
    WriteSource = "write-source" => |_ctx| {
        http::post_json(Side::Source, "tags/", &json!({ "name": "planted" }))?;
        Ok(one("wrote"))
    };
    WriteSourceInBatch = "write-source-batch" => |_ctx| {
        // A batch with one forbidden request among harmless ones: none of it may be sent.
        let reqs = vec![
            http::Request::get(Side::Target, "tags/", &[]),
            http::Request::new(Side::Source, http::Method::Post, "tags/", &[], &[], http::Body::Json(json!({ "name": "planted" }).to_string())),
            http::Request::get(Side::Source, "tags/", &[]),
        ];
        for r in http::send_all(reqs) {
            r?;
        }
        Ok(one("wrote"))
    };
    WriteNear = "write-near" => |_ctx| {
        // The manifest allows `POST jobs`; a path below it is another write.
        http::post_json(Side::Source, "jobs/restoration", &json!({ "name": "planted" }))?;
        Ok(one("wrote"))
    };
    WriteEncoded = "write-encoded" => |_ctx| {
        // `PUT jobs/{id}` with an "id" that a server decodes into a path elsewhere.
        http::put_json(Side::Source, "jobs/1%2F..%2F..%2Ftags%2F1", &json!({ "name": "planted" }))?;
        Ok(one("wrote"))
    };
    Override = "override" => |_ctx| {
        // A read that asks the server to treat it as a delete.
        http::request(Side::Source, http::Method::Get, "tags/", &[], &[("X-HTTP-Method-Override", "DELETE")], http::Body::Empty)?;
        Ok(one("overrode"))
    };
    StealAuth = "steal-auth" => |_ctx| {
        http::request(Side::Target, http::Method::Get, "tags/", &[], &[("Authorization", "Bearer mine")], http::Body::Empty)?;
        Ok(one("auth"))
    };
    Greedy = "greedy" => |_ctx| {
        http::get(Side::Source, "huge", &[])?;
        Ok(one("greedy"))
    };
    Nap = "nap" => |_ctx| {
        // Sleeping is not computing: 600 ms of sleep fits a 300 ms CPU budget.
        for _ in 0..3 {
            ferry_sdk::files::sleep_ms(200)?;
        }
        Ok(one("rested"))
    };
    Chatty = "chatty" => |_ctx| {
        // Progress past 100 % and a message far longer than the host keeps.
        timer::progress(40, "EXPORTING");
        timer::progress(250, &"x".repeat(10_000));
        Ok(one("chatted"))
    };
    Hoard = "hoard" => |_ctx| {
        // Answers under the per-response cap, but together twice the plugin's memory.
        let answers = http::send_all((0..32).map(|_| http::Request::get(Side::Source, "big", &[])).collect());
        for a in answers {
            a?;
        }
        Ok(one("hoarded"))
    };
    HoardLists = "hoard-lists" => |_ctx| {
        // Lists under every per-list bound, but together twice the plugin's memory. The raw
        // import: the texts are not parsed, so only what the host hands over takes memory.
        use ferry_sdk::bindings::cloner::ferry::plugin::http as raw;
        let lists: Vec<raw::ListRequest> = (0..32)
            .map(|_| raw::ListRequest {
                side: Side::Source,
                path: "big".into(),
                query: vec![],
                paging: raw::Paging::None(String::new()),
            })
            .collect();
        for l in raw::list_all_many(&lists) {
            l.map_err(ferry_sdk::Error::from)?;
        }
        Ok(one("hoarded"))
    };
    Gulp = "gulp" => |_ctx| {
        // A transfer with no cap of its own: the run's --max-file-size holds it anyway.
        let outcome = ferry_sdk::files::transfer(&ferry_sdk::files::TransferRequest {
            download: ferry_sdk::files::Download {
                path: "huge".into(),
                query: vec![],
                encoding: ferry_sdk::files::Encoding::Raw,
            },
            upload: ferry_sdk::files::Upload {
                path: "tags/".into(),
                field: "file".into(),
                filename: "f".into(),
                fields: vec![],
            },
            max_bytes: u64::MAX,
            accept: vec![],
        })?;
        Ok(one(&format!("{outcome:?}")))
    };
    Idle = "idle" => |_ctx| {
        // ... but no call may outlast its wall-clock limit.
        loop {
            ferry_sdk::files::sleep_ms(1000)?;
        }
    };
}
