//! A cloner built against a later major version of the contract (ferry:plugin@2.0.0): the
//! host must refuse it by name, not fail to link it obscurely.

wit_bindgen::generate!({
    inline: r#"
        package ferry:plugin@2.0.0;
        interface cloner {
            kinds: func() -> list<string>;
        }
        world cloner-plugin {
            export cloner;
        }
    "#,
});

struct Later;

impl exports::ferry::plugin::cloner::Guest for Later {
    fn kinds() -> Vec<String> {
        vec!["tag".into()]
    }
}

export!(Later);
