//! Deterministic seeds: the same org name and seed give the same org, ids included.
//!
//! - every org has users (an admin, two members, a service account);
//! - `demo`: a small, realistic org, all wired together: adapters of the four types, a
//!   platform-owned trial adapter the org key cannot list (named by a project's profile),
//!   connectors (one OAuth), tags, Prompt Studio projects with prompts, a default profile and
//!   documents (PDFs and a CSV), workflows with tool instances and endpoints, pipelines (one
//!   inactive), API deployments, groups and sharing;
//! - `small`: a handful of each kind;
//! - `N`: about N resources (what a clone creates or configures, files included) with the
//!   demo's mix, more than 50 of each paged kind once N
//!   allows it, unicode and spaces in names, and a few files over 25 MB (generated on
//!   download, so they cost no memory).

use super::Seed;
use super::records::create;
use super::store::{Blob, OrgData, id_text, spec};
use super::studio::publish;
use serde_json::{Value, json};
use std::sync::Arc;

fn mk(data: &mut OrgData, org: &str, kind: &str, body: Value) -> Value {
    match create(data, org, spec(kind), body.clone()) {
        super::shared::Reply::Json(s, v) if s.is_success() => {
            if kind == "group" {
                // The create answer has no id; find the row.
                return data
                    .rows("group")
                    .find(|g| g["name"] == body["name"])
                    .cloned()
                    .expect("group just created");
            }
            v
        }
        super::shared::Reply::Json(_, e) => panic!("seed: creating {kind} {body}: {e}"),
        _ => panic!("seed: creating {kind}"),
    }
}

fn id(v: &Value, field: &str) -> String {
    id_text(&v[field])
}

/// What every org has: its users. The same people are in every org (same emails), under
/// different ids, as in a real company's environments: clients must match users by email.
pub fn base(data: &mut OrgData, org: &str) {
    use sha2::{Digest, Sha256};
    let offset = 100 + (Sha256::digest(org.as_bytes())[0] as u64) * 10;
    for (i, (name, service)) in [
        ("admin", false),
        ("alice", false),
        ("bob", false),
        ("ci-bot", true),
    ]
    .into_iter()
    .enumerate()
    {
        data.users
            .push((offset + i as u64, format!("{name}@acme.example"), service));
    }
}

fn user(data: &OrgData, name: &str) -> u64 {
    data.users
        .iter()
        .find(|(_, e, _)| e.starts_with(&format!("{name}@")))
        .map(|(id, _, _)| *id)
        .expect("seeded user")
}

pub fn fill(data: &mut OrgData, org: &str, seed: &Seed) {
    match seed {
        Seed::Demo => demo(data, org),
        Seed::Small => scaled(data, org, 14, false),
        Seed::Scale(n) => scaled(data, org, *n, true),
        Seed::Services => services(data, org),
        Seed::File(size) => one_file(data, org, *size),
    }
}

const ADAPTER_TYPES: [(&str, &str, &str); 4] = [
    ("LLM", "openai|502ecf49", "llm"),
    ("VECTOR_DB", "qdrant|41f64fda", "vector_store"),
    ("EMBEDDING", "openai|717a0b0e", "embedding_model"),
    ("X2TEXT", "llmwhisperer|0a1647f0", "x2text"),
];

fn adapter(data: &mut OrgData, org: &str, name: &str, t: usize, n: usize) -> Value {
    let (kind, catalog, _) = ADAPTER_TYPES[t % 4];
    let metadata = match kind {
        "LLM" => {
            json!({"adapter_name": name, "api_key": format!("sk-sandbox-{org}-{n:04}-secret"), "model": "gpt-4o", "max_tokens": 4096, "timeout": 900})
        }
        "VECTOR_DB" => {
            json!({"adapter_name": name, "url": format!("https://qdrant-{org}.example:6333"), "api_key": format!("qd-{org}-{n:04}-secret")})
        }
        "EMBEDDING" => {
            json!({"adapter_name": name, "api_key": format!("sk-sandbox-embed-{org}-{n:04}"), "model": "text-embedding-3-small"})
        }
        _ => {
            json!({"adapter_name": name, "url": "https://llmwhisperer.example/api/v2", "unstract_key": format!("lw-{org}-{n:04}-secret"), "mode": "form"})
        }
    };
    mk(
        data,
        org,
        "adapter",
        json!({"adapter_name": name, "adapter_type": kind, "adapter_id": catalog, "adapter_metadata": metadata, "description": format!("{kind} adapter {name}")}),
    )
}

fn connector(data: &mut OrgData, org: &str, name: &str, flavour: usize) -> Value {
    let (cid, ctype, mode, metadata) = match flavour % 3 {
        0 => (
            "minio|c799f6e3",
            "FILESYSTEM",
            2,
            json!({"bucket": format!("{org}-inbox"), "endpoint_url": format!("https://s3.{org}.example"), "key": "AKIASANDBOX", "secret": format!("s3-{org}-secret")}),
        ),
        1 => (
            "postgresql|6db35f45",
            "DATABASE",
            1,
            json!({"host": format!("db.{org}.example"), "port": "5432", "database": "extracted", "user": "unstract", "password": format!("pg-{org}-secret")}),
        ),
        _ => (
            "box|4d94d237",
            "FILESYSTEM",
            2,
            json!({"box_app_settings": format!("{{\"enterpriseID\": \"{org}\"}}")}),
        ),
    };
    mk(
        data,
        org,
        "connector",
        json!({"connector_name": name, "connector_id": cid, "connector_type": ctype, "connector_mode": mode, "connector_metadata": metadata}),
    )
}

/// A Prompt Studio project with its default profile, prompts and registry entry.
fn project(
    data: &mut OrgData,
    org: &str,
    name: &str,
    adapters: [&str; 4],
    prompts: &[(&str, &str, &str)],
) -> (Value, String) {
    let tool = mk(
        data,
        org,
        "custom_tool",
        json!({"tool_name": name, "description": format!("{name}: extracts fields from documents"), "author": "admin@acme.example", "icon": "", "preamble": "You are a careful extraction assistant.", "postamble": "Answer only from the document.", "enable_highlight": false}),
    );
    let tid = id(&tool, "tool_id");
    let mut profile = json!({"profile_name": "Default", "prompt_studio_tool": tid, "chunk_size": 0, "chunk_overlap": 0, "retrieval_strategy": "simple", "similarity_top_k": 3, "section": "Default", "is_default": true});
    for (i, a) in adapters.iter().enumerate() {
        profile[ADAPTER_TYPES[i].2] = json!(a);
    }
    mk(data, org, "profile", profile);
    for (n, (key, prompt, kind)) in prompts.iter().enumerate() {
        mk(
            data,
            org,
            "prompt",
            json!({"prompt_key": key, "prompt": prompt, "enforce_type": kind, "tool_id": tid, "sequence_number": n + 1, "prompt_type": "PROMPT", "active": true, "required": false}),
        );
    }
    let tool = data.find("custom_tool", &tid).cloned().unwrap();
    let registry = publish(data, org, &tool);
    (tool, registry)
}

fn document(
    data: &mut OrgData,
    org: &str,
    tool: &str,
    name: &str,
    mime: &str,
    blob: Blob,
) -> String {
    let doc = mk(
        data,
        org,
        "document",
        json!({"document_name": name, "tool": tool}),
    );
    let did = id(&doc, "document_id");
    data.files.insert(did.clone(), (mime.to_string(), blob));
    did
}

/// One project with its four adapters and a single generated document of `size` bytes
/// (made on download, so it costs the sandbox no memory).
fn one_file(data: &mut OrgData, org: &str, size: u64) {
    let adapters: Vec<String> = (0..4)
        .map(|t| {
            id(
                &adapter(data, org, &format!("file adapter {t}"), t, t),
                "id",
            )
        })
        .collect();
    let (tool, _) = project(
        data,
        org,
        "Large file",
        [&adapters[0], &adapters[1], &adapters[2], &adapters[3]],
        &[("field_a", "What is field A?", "text")],
    );
    document(
        data,
        org,
        &id(&tool, "tool_id"),
        "large.pdf",
        "application/pdf",
        Blob::Generated { size, seed: 7 },
    );
}

fn small_pdf(title: &str) -> Blob {
    let text = format!("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {title}\n%%EOF\n");
    Blob::Bytes(Arc::new(text.into_bytes()))
}

fn workflow(
    data: &mut OrgData,
    org: &str,
    name: &str,
    registry: &str,
    source: Option<&str>,
    dest: Option<&str>,
) -> String {
    let wf = mk(
        data,
        org,
        "workflow",
        json!({"workflow_name": name, "description": format!("{name} workflow"), "is_active": true}),
    );
    let wid = id(&wf, "id");
    let ti = mk(
        data,
        org,
        "tool_instance",
        json!({"workflow_id": wid, "tool_id": registry}),
    );
    let tiid = id(&ti, "id");
    data.col("tool_instance").modify(&tiid, |row| {
        row["metadata"] = json!({"prompt_registry_id": registry, "tool_instance_id": tiid, "challenge_llm": "", "enable_challenge": false, "single_pass_extraction_mode": false, "summarize_as_source": false, "enable_highlight": false});
    });
    let endpoints: Vec<String> = data
        .rows_with("workflow_endpoint", "workflow", &wid)
        .map(|e| id(e, "id"))
        .collect();
    for eid in endpoints {
        data.col("workflow_endpoint").modify(&eid, |row| {
        let (conn, api_type) = if row["endpoint_type"] == "SOURCE" { (source, "API") } else { (dest, "API") };
        match conn {
            Some(c) => {
                row["connection_type"] = json!(if row["endpoint_type"] == "SOURCE" { "FILESYSTEM" } else { "DATABASE" });
                row["connector_instance"] = json!(c);
                row["connector_instance_id"] = json!(c);
                row["configuration"] = if row["endpoint_type"] == "SOURCE" { json!({"folders": ["/inbox"], "processSubDirectories": true, "fileExtensions": ["PDF"], "maxFiles": 100}) } else { json!({"table": "extractions", "includeAgent": false, "includeTimestamp": true, "columnMode": "WRITE_JSON_TO_A_SINGLE_COLUMN", "singleColumnName": "data"}) };
            }
            None => row["connection_type"] = json!(api_type),
        }
        });
    }
    wid
}

fn share(
    data: &mut OrgData,
    kind: &'static str,
    id_: &str,
    users: Vec<u64>,
    groups: Vec<u64>,
    to_org: bool,
) {
    data.col(kind).modify(id_, |row| {
        row["shared_users"] = json!(users);
        row["shared_groups"] = json!(groups);
        row["shared_to_org"] = json!(to_org);
    });
}

fn demo(data: &mut OrgData, org: &str) {
    let (alice, bob) = (user(data, "alice"), user(data, "bob"));
    let reviewers = mk(
        data,
        org,
        "group",
        json!({"name": "Reviewers", "description": "People who review extractions"}),
    );
    let ops = mk(
        data,
        org,
        "group",
        json!({"name": "Ops", "description": "Runs the pipelines"}),
    );
    let (rid, oid) = (
        reviewers["id"].as_u64().unwrap(),
        ops["id"].as_u64().unwrap(),
    );
    data.members.insert(rid, vec![alice, bob]);
    data.members.insert(oid, vec![bob]);

    let names = [
        "openai-dev",
        "qdrant-dev",
        "openai-embed-dev",
        "llmwhisperer-dev",
    ];
    let adapters: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| adapter(data, org, n, i, i))
        .collect();
    let a = |i: usize| id(&adapters[i], "id");
    mk(
        data,
        org,
        "adapter",
        json!({"adapter_name": "azure-gpt4-dev", "adapter_type": "LLM", "adapter_id": "azureopenai|592d84b5", "adapter_metadata": {"api_key": format!("az-{org}-secret"), "deployment_name": "gpt4o"}, "description": "Fallback LLM"}),
    );
    // The platform-owned trial adapter: a profile names it, the org key cannot list it.
    let trial = data.next_uuid(org);
    data.hidden_adapters.insert("id", json!({"id": trial, "adapter_name": "Unstract Trial LLM", "adapter_type": "LLM", "adapter_id": "unstract-trial|0001", "is_friction_less": true}));
    share(data, "adapter", &a(0), vec![alice], vec![rid], false);

    let s3 = connector(data, org, "s3-dev-inbox", 0);
    let pg = connector(data, org, "postgres-dev-out", 1);
    let gdrive = mk(
        data,
        org,
        "connector",
        json!({"connector_name": "gdrive-dev", "connector_id": "google_drive|a6c2c4a0", "connector_type": "FILESYSTEM", "connector_mode": 2, "connector_metadata": {"access_token": "ya29.sandbox-oauth-token", "refresh_token": "1//sandbox-refresh", "provider": "google-oauth2"}}),
    );
    share(data, "connector", &id(&s3, "id"), vec![], vec![oid], false);

    for (name, d) in [
        ("finance", "Finance documents"),
        ("invoices", "Vendor invoices"),
        ("contracts", "Signed contracts"),
        ("q3 review", "Third-quarter review"),
    ] {
        mk(data, org, "tag", json!({"name": name, "description": d}));
    }

    let adapters4 = [a(0), a(1), a(2), a(3)];
    let refs = [
        adapters4[0].as_str(),
        adapters4[1].as_str(),
        adapters4[2].as_str(),
        adapters4[3].as_str(),
    ];
    let (invoice, invoice_reg) = project(
        data,
        org,
        "Invoice Extractor",
        refs,
        &[
            ("invoice_number", "What is the invoice number?", "text"),
            ("total_amount", "What is the total amount due?", "number"),
            ("due_date", "When is the payment due?", "date"),
        ],
    );
    let inv = id(&invoice, "tool_id");
    let d1 = document(
        data,
        org,
        &inv,
        "invoice-001.pdf",
        "application/pdf",
        small_pdf("Invoice 001 from ACME Corp, total 1,234.56 EUR"),
    );
    document(
        data,
        org,
        &inv,
        "invoice-002.pdf",
        "application/pdf",
        small_pdf("Invoice 002 from Globex, total 99.00 USD"),
    );
    document(
        data,
        org,
        &inv,
        "vendors.csv",
        "text/csv",
        Blob::Bytes(Arc::new(
            b"vendor,country\nACME Corp,DE\nGlobex,US\nInitech,\xc3\x89tats-Unis\n".to_vec(),
        )),
    );
    data.col("custom_tool")
        .modify(&inv, |t| t["output"] = json!(d1))
        .unwrap();
    share(data, "custom_tool", &inv, vec![alice], vec![], false);

    let trial_refs = [trial.as_str(), refs[1], refs[2], refs[3]];
    let (contract, contract_reg) = project(
        data,
        org,
        "Contract Review",
        trial_refs,
        &[
            ("parties", "Who are the parties?", "text"),
            ("term", "What is the contract term?", "text"),
        ],
    );
    document(
        data,
        org,
        &id(&contract, "tool_id"),
        "msa-template.pdf",
        "application/pdf",
        small_pdf("Master services agreement"),
    );
    let (_receipts, receipts_reg) = project(
        data,
        org,
        "Receipt Parser",
        refs,
        &[
            ("merchant", "Which merchant issued the receipt?", "text"),
            ("total", "What is the total?", "number"),
        ],
    );

    let (s3id, pgid, gid) = (id(&s3, "id"), id(&pg, "id"), id(&gdrive, "id"));
    let etl = workflow(
        data,
        org,
        "invoice-etl",
        &invoice_reg,
        Some(&s3id),
        Some(&pgid),
    );
    let contract_api = workflow(data, org, "contract-api", &contract_reg, None, None);
    let gsync = workflow(
        data,
        org,
        "gdrive-sync",
        &receipts_reg,
        Some(&gid),
        Some(&pgid),
    );
    let receipts_api = workflow(data, org, "receipts-api", &receipts_reg, None, None);
    share(data, "workflow", &etl, vec![bob], vec![oid], false);

    mk(
        data,
        org,
        "pipeline",
        json!({"pipeline_name": "invoice-nightly", "workflow": etl, "pipeline_type": "ETL", "cron_string": "0 2 * * *"}),
    );
    let hourly = mk(
        data,
        org,
        "pipeline",
        json!({"pipeline_name": "invoice-hourly", "workflow": etl, "pipeline_type": "ETL", "cron_string": "0 * * * *"}),
    );
    data.col("pipeline")
        .modify(&id(&hourly, "id"), |p| p["active"] = json!(false))
        .unwrap();
    mk(
        data,
        org,
        "pipeline",
        json!({"pipeline_name": "gdrive-task", "workflow": gsync, "pipeline_type": "TASK", "cron_string": "*/30 * * * *"}),
    );
    mk(
        data,
        org,
        "api_deployment",
        json!({"api_name": "contract_review", "display_name": "Contract review", "description": "Reviews uploaded contracts", "workflow": contract_api}),
    );
    mk(
        data,
        org,
        "api_deployment",
        json!({"api_name": "receipts", "display_name": "Receipts", "description": "Parses receipts", "workflow": receipts_api}),
    );
}

/// The environment's own adapters and connectors, as an operator set them up: the demo's
/// services under this org's name, each with credentials of its own (the OAuth connector
/// authorised here).
fn services(data: &mut OrgData, org: &str) {
    for (i, stem) in ["openai", "qdrant", "openai-embed", "llmwhisperer"]
        .iter()
        .enumerate()
    {
        adapter(data, org, &format!("{stem}-{org}"), i, 100 + i);
    }
    connector(data, org, &format!("s3-{org}-inbox"), 0);
    connector(data, org, &format!("postgres-{org}-out"), 1);
    mk(
        data,
        org,
        "connector",
        json!({"connector_name": format!("gdrive-{org}"), "connector_id": "google_drive|a6c2c4a0", "connector_type": "FILESYSTEM", "connector_mode": 2, "connector_metadata": {"access_token": format!("ya29.{org}-oauth-token"), "refresh_token": format!("1//{org}-refresh"), "provider": "google-oauth2"}}),
    );
}

/// About `n` resources with the demo's mix.
fn scaled(data: &mut OrgData, org: &str, n: usize, big_files: bool) {
    let share_of = |p: f64, min: usize| ((n as f64 * p).round() as usize).max(min);
    let paged_min = if n >= 400 { 51 } else { 1 };
    // Shares of N, counting what a clone creates or configures: a workflow brings a tool
    // instance and two endpoints (x4), a project one document (x2).
    let (groups, adapters, connectors, tags) = (
        share_of(0.03, 1),
        share_of(0.08, 4),
        share_of(0.06, 2),
        share_of(0.15, paged_min),
    );
    let (tools, workflows, pipelines, deployments) = (
        share_of(0.05, 1),
        share_of(0.06, 1),
        share_of(0.16, paged_min),
        share_of(0.18, paged_min),
    );
    let (alice, _) = (user(data, "alice"), user(data, "bob"));

    let mut group_ids = Vec::new();
    for i in 0..groups {
        let g = mk(
            data,
            org,
            "group",
            json!({"name": format!("Group {i:03} – Équipe"), "description": "seeded"}),
        );
        let gid = g["id"].as_u64().unwrap();
        data.members.insert(gid, vec![alice]);
        group_ids.push(gid);
    }
    let adapter_ids: Vec<String> = (0..adapters)
        .map(|i| {
            id(
                &adapter(data, org, &format!("adapter {i:04} ✓"), i, i),
                "id",
            )
        })
        .collect();
    let connector_ids: Vec<String> = (0..connectors)
        .map(|i| {
            id(
                &connector(data, org, &format!("connector {i:04} – données"), i),
                "id",
            )
        })
        .collect();
    for i in 0..tags {
        mk(
            data,
            org,
            "tag",
            json!({"name": format!("tag {i:04} é"), "description": format!("seeded tag {i}")}),
        );
    }
    let by_type = |t: usize| {
        adapter_ids
            .iter()
            .enumerate()
            .filter(move |(i, _)| i % 4 == t)
            .map(|(_, a)| a.clone())
            .collect::<Vec<_>>()
    };
    let typed: Vec<Vec<String>> = (0..4).map(by_type).collect();
    let mut registries = Vec::new();
    for i in 0..tools {
        let pick = |t: usize| typed[t][i % typed[t].len()].clone();
        let refs = [pick(0), pick(1), pick(2), pick(3)];
        let (tool, reg) = project(
            data,
            org,
            &format!("Project {i:04} – extraction"),
            [&refs[0], &refs[1], &refs[2], &refs[3]],
            &[
                ("field_a", "What is field A?", "text"),
                ("field_b", "What is field B?", "number"),
            ],
        );
        let tid = id(&tool, "tool_id");
        document(
            data,
            org,
            &tid,
            &format!("doc {i:04}.pdf"),
            "application/pdf",
            small_pdf(&format!("document {i}")),
        );
        if big_files && i < 3 && n >= 100 {
            let size = (26 << 20) + (i as u64) * (1 << 20);
            document(
                data,
                org,
                &tid,
                &format!("scan {i:02} large.pdf"),
                "application/pdf",
                Blob::Generated {
                    size,
                    seed: i as u64,
                },
            );
        }
        registries.push(reg);
    }
    let mut workflow_ids = Vec::new();
    for i in 0..workflows {
        let c = |k: usize| connector_ids.get((i + k) % connector_ids.len()).cloned();
        let (src, dst) = if i % 3 == 0 {
            (None, None)
        } else {
            (c(0), c(1))
        };
        let wid = workflow(
            data,
            org,
            &format!("workflow {i:04}"),
            &registries[i % registries.len()],
            src.as_deref(),
            dst.as_deref(),
        );
        if i % 5 == 0 && !group_ids.is_empty() {
            share(
                data,
                "workflow",
                &wid,
                vec![alice],
                vec![group_ids[i % group_ids.len()]],
                false,
            );
        }
        workflow_ids.push(wid);
    }
    for i in 0..pipelines {
        let p = mk(
            data,
            org,
            "pipeline",
            json!({"pipeline_name": format!("pipeline {i:04}"), "workflow": workflow_ids[i % workflow_ids.len()], "pipeline_type": if i % 4 == 3 { "TASK" } else { "ETL" }, "cron_string": "0 3 * * *"}),
        );
        if i % 7 == 6 {
            data.col("pipeline")
                .modify(&id(&p, "id"), |p| p["active"] = json!(false))
                .unwrap();
        }
    }
    for i in 0..deployments {
        mk(
            data,
            org,
            "api_deployment",
            json!({"api_name": format!("api_{i:04}"), "display_name": format!("API {i:04} – Résumé"), "description": "seeded", "workflow": workflow_ids[i % workflow_ids.len()]}),
        );
    }
}
