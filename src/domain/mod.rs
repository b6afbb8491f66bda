//! The domain: documents, revisions, people, permissions and the audit chain as plain types and
//! pure rules. Nothing in here does I/O, so every rule is testable in a unit test.

pub mod access;
pub mod archive;
pub mod audit;
pub mod bagit;
pub mod canonical;
pub mod extract;
pub mod ids;
pub mod kinds;
pub mod manifest;
pub mod palette;
pub mod people;
pub mod route_templates;
pub mod routing;
pub mod sealing;
pub mod search;
pub mod sign_in;
pub mod text;
pub mod traces;
pub mod vocabulary;
