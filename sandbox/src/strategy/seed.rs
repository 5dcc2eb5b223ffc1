//! What an environment starts with. Every environment has Strategy's built-in Administrator
//! and the Everyone group (the same ids everywhere, as in Strategy); a seed adds projects.

use super::store::{EnvData, Object, Payload, Project, new_id, types};

/// What to fill an environment with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// two projects with schema and application objects, profile folders, users, user
    /// groups and security roles related to them
    Demo,
    /// this many small projects (`Project 001`, ...)
    Projects(usize),
    /// one project (`Warehouse`) whose package is about this many bytes
    Package(u64),
}

impl std::str::FromStr for Seed {
    type Err = String;
    fn from_str(s: &str) -> Result<Seed, String> {
        match s {
            "demo" => Ok(Seed::Demo),
            p if p.starts_with("package:") => crate::kit::parse_size(&p[8..]).map(Seed::Package),
            n => n.parse().map(Seed::Projects).map_err(|_| {
                format!("seed {n:?} must be demo, a number of projects or package:SIZE")
            }),
        }
    }
}

pub const ADMINISTRATOR: &str = "54F3D26011D2896560009A8E67019608";
pub const EVERYONE: &str = "C82C6B1011D2894CC0009D9F29718E4F";

fn obj(type_: i64, name: &str) -> Object {
    Object {
        id: new_id(),
        type_,
        subtype: 0,
        name: name.into(),
        login: None,
        folder: None,
        refs: vec![],
        grants: vec![],
        projects: vec![],
        description: String::new(),
    }
}

fn public(type_: i64, name: &str, refs: &[&Object]) -> Object {
    Object {
        folder: Some("public".into()),
        refs: refs.iter().map(|o| o.id.clone()).collect(),
        ..obj(type_, name)
    }
}

fn user(login: &str, name: &str, grants: &[&str]) -> Object {
    Object {
        subtype: types::USER,
        login: Some(login.into()),
        grants: grants.iter().map(|g| g.to_string()).collect(),
        ..obj(types::USER_OR_GROUP, name)
    }
}

fn project(name: &str, objects: Vec<Object>) -> Project {
    Project {
        id: new_id(),
        name: name.into(),
        description: format!("{name} project"),
        status: 0,
        default_locale: 1033,
        locales: vec![1033],
        objects,
        payload: None,
        alias: String::new(),
        settings: super::management::project_defaults(),
    }
}

/// What every environment has.
pub fn base(env: &mut EnvData) {
    env.server_settings = super::management::server_defaults();
    env.config.push(Object {
        id: ADMINISTRATOR.into(),
        ..user("administrator", "Administrator", &["all"])
    });
    env.config.push(Object {
        id: EVERYONE.into(),
        subtype: types::USER_GROUP,
        refs: vec![ADMINISTRATOR.into()],
        ..obj(types::USER_OR_GROUP, "Everyone")
    });
}

pub fn fill(env: &mut EnvData, seed: &Seed) {
    match seed {
        Seed::Demo => demo(env),
        Seed::Projects(n) => {
            for i in 1..=*n {
                let region = public(types::ATTRIBUTE, "Region", &[]);
                let revenue = public(types::METRIC, "Revenue", &[]);
                let report = public(types::REPORT, "Revenue by Region", &[&revenue, &region]);
                env.projects.push(project(
                    &format!("Project {i:03}"),
                    vec![region, revenue, report],
                ));
            }
        }
        Seed::Package(size) => {
            let region = public(types::ATTRIBUTE, "Region", &[]);
            let mut p = project("Warehouse", vec![region]);
            p.payload = Some(Payload {
                name: "cube.bin".into(),
                size: *size,
                seed: Some(fastrand::u64(..)),
                sha256: None,
            });
            env.projects.push(p);
        }
    }
}

fn demo(env: &mut EnvData) {
    let customer = public(types::ATTRIBUTE, "Customer", &[]);
    let region = public(types::ATTRIBUTE, "Region", &[]);
    let product = public(types::ATTRIBUTE, "Product", &[]);
    let revenue = public(types::METRIC, "Revenue", &[]);
    let profit = public(types::METRIC, "Profit", &[&revenue]);
    let by_region = public(types::REPORT, "Revenue by Region", &[&revenue, &region]);
    let by_product = public(types::REPORT, "Profit by Product", &[&profit, &product]);
    let overview = public(
        types::DASHBOARD,
        "Executive Overview",
        &[&by_region, &by_product],
    );
    let alice_folder = Object {
        folder: Some("profile:alice".into()),
        ..obj(types::FOLDER, "profile:alice")
    };
    let scratch = Object {
        folder: Some("profile:alice".into()),
        ..public(types::REPORT, "Alice's scratch", &[&revenue, &customer])
    };
    let bob_folder = Object {
        folder: Some("profile:bob".into()),
        ..obj(types::FOLDER, "profile:bob")
    };
    let mut tutorial = project(
        "Tutorial",
        vec![
            customer,
            region.clone(),
            product,
            revenue.clone(),
            profit,
            by_region,
            by_product,
            overview,
            alice_folder,
            scratch,
            bob_folder,
        ],
    );
    // Not the defaults, so that a copy that carried them shows it.
    tutorial.alias = "tut".into();
    tutorial
        .settings
        .insert("maxReportExecutionTime".into(), 900.into());
    let sales_region = Object {
        id: region.id.clone(),
        ..region
    };
    let sales = project(
        "Sales",
        vec![
            sales_region.clone(),
            revenue.clone(),
            public(
                types::REPORT,
                "Revenue by Region",
                &[&revenue, &sales_region],
            ),
        ],
    );
    let (t, s) = (tutorial.id.clone(), sales.id.clone());
    let mut alice = user("alice", "Alice Analyst", &["run-reports", "use-dashboards"]);
    alice.projects = vec![t.clone()];
    let mut bob = user("bob", "Bob Builder", &["run-reports", "edit-reports"]);
    bob.projects = vec![t.clone(), s.clone()];
    let carol = user("carol", "Carol Outsider", &["run-reports"]);
    let analysts = Object {
        subtype: types::USER_GROUP,
        refs: vec![alice.id.clone(), bob.id.clone()],
        projects: vec![t.clone()],
        ..obj(types::USER_OR_GROUP, "Analysts")
    };
    let auditors = Object {
        subtype: types::USER_GROUP,
        refs: vec![carol.id.clone()],
        ..obj(types::USER_OR_GROUP, "Auditors")
    };
    let analyst_role = Object {
        refs: vec![alice.id.clone(), bob.id.clone()],
        grants: vec!["run-reports".into(), "use-dashboards".into()],
        projects: vec![t.clone()],
        ..obj(types::SECURITY_ROLE, "Analyst")
    };
    let sales_role = Object {
        refs: vec![bob.id.clone()],
        grants: vec!["run-reports".into()],
        projects: vec![s],
        ..obj(types::SECURITY_ROLE, "Sales Viewer")
    };
    env.config.extend([
        alice,
        bob,
        carol,
        analysts,
        auditors,
        analyst_role,
        sales_role,
    ]);
    env.projects.push(tutorial);
    env.projects.push(sales);
}
