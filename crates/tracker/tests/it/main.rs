//! `gather` against fake trackers on 127.0.0.1: Jira Cloud, Jira Data Center and GitHub as their documentation
//! describes them, and the failures a tracker can throw at a deploy (refused credentials, rate limits, server errors,
//! hangs, broken JSON, nothing listening). No test sleeps: retries wait on a recording sleeper.

mod failures;
mod github;
mod jira_cloud;
mod jira_dc;
mod support;
