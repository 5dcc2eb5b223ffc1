//! Ferry cloners for Unstract's Platform API (`{url}/{prefix}/unstract/{org}/...`).
//! One module per kind; the host's connection base URL already ends in the org's path.
//! Users are not cloned: sharing and group members map them by email.

mod adapter;
mod api_deployment;
mod common;
mod connector;
mod custom_tool;
mod group;
mod pipeline;
mod prompt;
mod tag;
mod tool_instance;
mod workflow;
mod workflow_endpoint;

ferry_sdk::export_cloner!(
    group::Group,
    adapter::Adapter,
    connector::Connector,
    tag::Tag,
    custom_tool::CustomTool,
    prompt::Prompt,
    workflow::Workflow,
    tool_instance::ToolInstance,
    workflow_endpoint::WorkflowEndpoint,
    pipeline::Pipeline,
    api_deployment::ApiDeployment,
);
