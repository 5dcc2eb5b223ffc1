//! Ferry cloners for Unstract's Platform API (`{url}/{prefix}/unstract/{org}/...`).
//! One module per kind; the host's connection base URL already ends in the org's path.

mod tag;

ferry_sdk::export_cloner!(tag::Tag);
