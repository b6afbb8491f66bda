//! Who may do what, and what a document's state allows. Every permission and state rule of
//! henji is decided here: services ask before they act, and the access layers (API, web
//! pages, command line) never decide on their own. The read rule exists once, as a
//! [`ReadScope`]; the catalog's SQL filter and the search index's query are built from it.

use super::people::{Classification, DocumentState, Principal, Role};

/// What the rules need to know about a document.
#[derive(Clone, Debug)]
pub struct DocumentFacts<'a> {
    pub department: &'a str,
    pub classification: Classification,
    pub state: DocumentState,
    pub deleted: bool,
    pub route: &'a RouteAccess,
}

impl DocumentFacts<'_> {
    /// 归档: archived documents are the archivists' to read, whatever their department.
    pub fn archived(&self) -> bool {
        self.state == DocumentState::Archived
    }
}

/// Who reaches a document through its route (公文流转) or a distribution (分发), beyond its own
/// department.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteAccess {
    /// Users with a pending task: they read, edit and write opinions.
    pub pending: Vec<String>,
    /// Users a task reached earlier (handled, or closed by someone else's approval): they keep
    /// reading it and may add opinions.
    pub handled: Vec<String>,
    /// Departments it was distributed to: read-only.
    pub distributed: Vec<String>,
}

/// How a name reaches a document, as the catalog reports it: a task's state, or a
/// distribution. A closed list: an unknown word is an integrity error, never a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderKind {
    Pending,
    Handled,
    Distributed,
}

impl ReaderKind {
    /// `pending`; `done`, `skipped` or `waiting` (a task reached before, then reset by a
    /// return); `distributed`.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "pending" => Some(Self::Pending),
            "done" | "skipped" | "waiting" => Some(Self::Handled),
            "distributed" => Some(Self::Distributed),
            _ => None,
        }
    }
}

impl RouteAccess {
    pub fn add(&mut self, name: String, kind: ReaderKind) {
        match kind {
            ReaderKind::Pending => self.pending.push(name),
            ReaderKind::Handled => self.handled.push(name),
            ReaderKind::Distributed => self.distributed.push(name),
        }
    }

    fn pending_for(&self, who: &Principal) -> bool {
        self.pending.contains(&who.username)
    }

    fn handled_by(&self, who: &Principal) -> bool {
        self.handled.contains(&who.username)
    }
}

/// A document no route or distribution reaches.
pub static NO_ROUTE: RouteAccess = RouteAccess { pending: Vec::new(), handled: Vec::new(), distributed: Vec::new() };

/// Why something is refused. `Hidden` must look exactly like a missing document (404), because
/// even its existence is something the caller may not learn; `Conflict` is a state that does
/// not allow the change now (409).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    Hidden,
    Forbidden(&'static str),
    Conflict(String),
}

/// What a principal may read, in one value: the per-document check, the catalog's list filter
/// and the search index's permission clause are all renderings of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadScope<'a> {
    /// Nothing above it exists for the reader, whatever else holds (administrators included).
    pub clearance: Classification,
    /// The reader's own department; `None`: every department (administrators).
    pub department: Option<&'a str>,
    /// Documents routed to this user (a task that reached them) are in scope.
    pub username: &'a str,
    /// Documents distributed to this department are in scope.
    pub distributed_to: &'a str,
    /// 归档: archived documents of every department (archivists).
    pub archived_anywhere: bool,
}

impl<'a> ReadScope<'a> {
    pub fn of(who: &'a Principal) -> Self {
        Self {
            clearance: who.clearance,
            department: if who.is_admin() { None } else { Some(&who.department) },
            username: &who.username,
            distributed_to: &who.department,
            archived_anywhere: who.has_role(Role::Archivist),
        }
    }

    /// Whether every department is in scope, so only clearance (and deletion) limit it.
    pub fn every_department(&self) -> bool {
        self.department.is_none()
    }

    /// Deleted documents and those above the clearance are out; then the department, a route,
    /// a distribution, or the archive room brings a document in.
    pub fn admits(&self, doc: &DocumentFacts) -> bool {
        if doc.deleted || doc.classification > self.clearance {
            return false;
        }
        let route = doc.route;
        self.department.is_none_or(|d| d == doc.department)
            || route.pending.iter().chain(&route.handled).any(|u| u == self.username)
            || route.distributed.iter().any(|d| d == self.distributed_to)
            || (self.archived_anywhere && doc.archived())
    }
}

fn is_home(who: &Principal, doc: &DocumentFacts) -> bool {
    who.is_admin() || who.department == doc.department
}

/// Reading: anything outside the reader's scope does not exist for them.
pub fn check_read(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    if ReadScope::of(who).admits(doc) { Ok(()) } else { Err(Denied::Hidden) }
}

/// A disposed record's tombstone (its document is gone): its department's people and
/// administrators still see that it existed.
pub fn check_read_tombstone(who: &Principal, department: &str) -> Result<(), Denied> {
    if who.is_admin() || who.department == department { Ok(()) } else { Err(Denied::Hidden) }
}

/// Changes to a document, for the one rule of what each state allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new revision (body, fields, attachments).
    Revise,
    /// 批示意见
    Opinion,
    /// Putting it on a route.
    Route,
    /// An action on its route (approve, return, …).
    Act,
    /// 分发
    Distribute,
    /// 归档
    Archive,
    /// A tombstone (administrators).
    Delete,
}

/// What a document's state allows. Archived documents never change (disposal is the archive's
/// own act); withdrawn ones (撤消) are closed too, but may still be deleted.
pub fn state_allows(state: DocumentState, change: Change) -> Result<(), Denied> {
    use DocumentState::*;
    let refuse = |why: String| Err(Denied::Conflict(why));
    match (state, change) {
        (Archived, Change::Delete) => refuse("an archived document is not deleted; it is disposed of when its retention ends".into()),
        (Archived, _) => refuse("the document is archived and can no longer change".into()),
        (_, Change::Delete) => Ok(()),
        (Withdrawn, Change::Opinion) => refuse("the document is withdrawn; opinions are closed".into()),
        (Withdrawn, Change::Revise | Change::Act) => refuse("the document is withdrawn and can no longer change".into()),
        (Draft | Registered, Change::Route) => Ok(()),
        (_, Change::Route) => refuse(format!("the document is {state}; only a draft or a registered document is routed")),
        (InReview | Approved | Issued, Change::Distribute) => Ok(()),
        (_, Change::Distribute) => refuse(format!("a {state} document is not distributed; it must be in review, approved or issued")),
        (Registered | Approved | Issued, Change::Archive) => Ok(()),
        (_, Change::Archive) => refuse(format!("a {state} document is not archived; it must be registered, approved or issued")),
        (_, Change::Revise | Change::Opinion | Change::Act) => Ok(()),
    }
}

/// Roles that write documents; archivists and auditors read, they do not draft.
const WRITERS: &[Role] = &[Role::Clerk, Role::Staff, Role::Leader, Role::Admin];

fn is_writer(who: &Principal) -> bool {
    WRITERS.iter().any(|r| who.has_role(*r))
}

/// Adding a revision: the reader must also hold a writing role, and be of the document's
/// department or have a pending task on it (a reviewer's edits are revisions too).
pub fn check_revise(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    if !is_writer(who) {
        return Err(Denied::Forbidden("your roles do not include one that edits documents (clerk, staff, leader, admin)"));
    }
    if !is_home(who, doc) && !doc.route.pending_for(who) {
        return Err(Denied::Forbidden("you may read this document (it was routed or distributed to you) but not change it"));
    }
    state_allows(doc.state, Change::Revise)
}

/// Writing an opinion (批示意见): as revising, and also after one's own task is handled.
pub fn check_opinion(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    if !is_writer(who) {
        return Err(Denied::Forbidden("your roles do not include one that writes opinions (clerk, staff, leader, admin)"));
    }
    if !is_home(who, doc) && !doc.route.pending_for(who) && !doc.route.handled_by(who) {
        return Err(Denied::Forbidden("a document distributed to your department is read-only"));
    }
    state_allows(doc.state, Change::Opinion)
}

/// Putting a document on a route: whoever may revise it, while it is a draft or registered.
pub fn check_route(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_revise(who, doc)?;
    state_allows(doc.state, Change::Route)
}

/// Acting on a route: whoever reads the document, while its state allows; which action the
/// caller may take is the route's rule (`routing::Route::act`, with `actor`).
pub fn check_act(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    state_allows(doc.state, Change::Act)
}

/// The caller as the route rules see them.
pub fn actor(who: &Principal) -> super::routing::Actor<'_> {
    super::routing::Actor { username: &who.username, is_admin: who.is_admin(), is_leader: who.has_role(Role::Leader) }
}

/// 分发: the document's own clerks, administrators and its current assignees pass it on; a
/// department it was distributed to only reads it.
pub fn check_distribute(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    let own_clerk = who.has_role(Role::Clerk) && who.department == doc.department;
    if !(who.is_admin() || own_clerk || doc.route.pending_for(who)) {
        return Err(Denied::Forbidden("the document's own clerks, administrators and its current assignees distribute it"));
    }
    state_allows(doc.state, Change::Distribute)
}

/// 归档: clerks (who finish a document's flow), archivists and administrators, once it is
/// finished.
pub fn check_archive(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    if !(who.is_admin() || who.has_role(Role::Clerk) || who.has_role(Role::Archivist)) {
        return Err(Denied::Forbidden("clerks, archivists and administrators archive documents"));
    }
    state_allows(doc.state, Change::Archive)
}

/// 销毁: administrators dispose of records past their retention.
pub fn check_dispose(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() { Ok(()) } else { Err(Denied::Forbidden("only administrators dispose of archive records")) }
}

/// Packages from another installation come in through the archive room.
pub fn check_import(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() || who.has_role(Role::Archivist) { Ok(()) } else { Err(Denied::Forbidden("archivists and administrators import archive packages")) }
}

/// Registering a new document in `department` at `classification`.
pub fn check_create(who: &Principal, department: &str, classification: Classification) -> Result<(), Denied> {
    if !is_writer(who) {
        return Err(Denied::Forbidden("your roles do not include one that registers documents (clerk, staff, leader, admin)"));
    }
    if department != who.department && !who.is_admin() {
        return Err(Denied::Forbidden("only administrators register documents for another department"));
    }
    if classification > who.clearance {
        return Err(Denied::Forbidden("the classification is above your clearance"));
    }
    Ok(())
}

/// Deleting (a tombstone) is for administrators alone.
pub fn check_delete(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    if !who.is_admin() {
        return Err(Denied::Forbidden("only administrators delete documents"));
    }
    state_allows(doc.state, Change::Delete)
}

/// Asking for a failed text extraction again: the document's clerks and administrators.
pub fn check_retry_extraction(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    if who.is_admin() || (who.has_role(Role::Clerk) && who.department == doc.department) {
        Ok(())
    } else {
        Err(Denied::Forbidden("the document's clerks and administrators ask for its text again"))
    }
}

/// Whether `user` may be given a task on a document of `classification`: cleared for it, and a
/// leader where the step signs off (签发).
pub fn check_assignee(user: &Principal, classification: Classification, signs_off: bool) -> Result<(), &'static str> {
    if user.clearance < classification {
        return Err("clearance is below the document's classification");
    }
    if signs_off && !user.has_role(Role::Leader) {
        return Err("is not a leader; only leaders sign off (签发)");
    }
    Ok(())
}

/// Administration: people, departments, fixity, the search index and keys.
pub fn check_admin(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() { Ok(()) } else { Err(Denied::Forbidden("administrators only")) }
}

/// The audit trail and its verification are read by auditors and administrators.
pub fn check_audit_reader(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() || who.has_role(Role::Auditor) {
        Ok(())
    } else {
        Err(Denied::Forbidden("auditors and administrators only"))
    }
}

/// What the caller may do with a document now, for access layers that offer only what will
/// succeed (the web pages' buttons). Each is the answer of the check of the same name.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Abilities {
    pub revise: bool,
    pub opinion: bool,
    pub route: bool,
    pub distribute: bool,
    pub archive: bool,
    pub delete: bool,
    pub retry_extraction: bool,
}

impl Abilities {
    pub fn of(who: &Principal, doc: &DocumentFacts) -> Self {
        Self {
            revise: check_revise(who, doc).is_ok(),
            opinion: check_opinion(who, doc).is_ok(),
            route: check_route(who, doc).is_ok(),
            distribute: check_distribute(who, doc).is_ok(),
            archive: check_archive(who, doc).is_ok(),
            delete: check_delete(who, doc).is_ok(),
            retry_extraction: check_retry_extraction(who, doc).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(dept: &str, roles: &[Role], clearance: Classification) -> Principal {
        Principal {
            id: "u".into(),
            username: "u".into(),
            display_name: "U".into(),
            department: dept.into(),
            roles: roles.to_vec(),
            clearance,
            color: "#000000".into(),
        }
    }

    fn doc(dept: &str, c: Classification) -> DocumentFacts<'_> {
        DocumentFacts { department: dept, classification: c, state: DocumentState::Draft, deleted: false, route: &NO_ROUTE }
    }

    #[test]
    fn a_route_opens_a_document_to_its_assignees_and_a_distribution_reads_only() {
        let leader = user("LD", &[Role::Leader], Classification::Internal);
        let mut reader = user("CWB", &[Role::Staff], Classification::Internal);
        reader.username = "r".into();
        let mut route = RouteAccess::default();
        let d = DocumentFacts { route: &route, ..doc("BGS", Classification::Internal) };
        assert_eq!(check_read(&leader, &d), Err(Denied::Hidden));
        route.add("u".into(), ReaderKind::Pending);
        route.add("CWB".into(), ReaderKind::Distributed);
        let d = DocumentFacts { route: &route, state: DocumentState::InReview, ..doc("BGS", Classification::Internal) };
        assert_eq!(check_revise(&leader, &d), Ok(()));
        assert_eq!(check_read(&reader, &d), Ok(()));
        assert!(matches!(check_revise(&reader, &d), Err(Denied::Forbidden(_))));
        assert!(matches!(check_opinion(&reader, &d), Err(Denied::Forbidden(_))));
        assert!(matches!(check_distribute(&reader, &d), Err(Denied::Forbidden(_))));
        assert_eq!(check_distribute(&leader, &d), Ok(()), "a pending assignee passes it on");
        // Clearance still comes first.
        let d = DocumentFacts { route: &route, ..doc("BGS", Classification::Secret) };
        assert_eq!(check_read(&leader, &d), Err(Denied::Hidden));
    }

    #[test]
    fn reader_kinds_are_a_closed_list() {
        assert_eq!(ReaderKind::parse("pending"), Some(ReaderKind::Pending));
        assert_eq!(ReaderKind::parse("skipped"), Some(ReaderKind::Handled));
        assert_eq!(ReaderKind::parse("distributed"), Some(ReaderKind::Distributed));
        assert_eq!(ReaderKind::parse("PENDING"), None);
        assert_eq!(ReaderKind::parse(""), None);
    }

    #[test]
    fn clearance_hides_even_from_administrators() {
        let admin = user("ADMIN", &[Role::Admin], Classification::Confidential);
        assert_eq!(check_read(&admin, &doc("BGS", Classification::Secret)), Err(Denied::Hidden));
        assert_eq!(check_read(&admin, &doc("BGS", Classification::Confidential)), Ok(()));
    }

    #[test]
    fn other_departments_cannot_see_even_public_documents() {
        let clerk = user("CWB", &[Role::Clerk], Classification::Secret);
        assert_eq!(check_read(&clerk, &doc("BGS", Classification::Public)), Err(Denied::Hidden));
        assert_eq!(check_read(&clerk, &doc("CWB", Classification::Secret)), Ok(()));
    }

    #[test]
    fn archivists_read_archived_documents_of_every_department_within_clearance() {
        let archivist = user("DAS", &[Role::Archivist], Classification::Confidential);
        let staff = user("DAS", &[Role::Staff], Classification::Secret);
        let archived = DocumentFacts { state: DocumentState::Archived, ..doc("BGS", Classification::Internal) };
        assert_eq!(check_read(&archivist, &archived), Ok(()));
        assert!(matches!(check_revise(&archivist, &archived), Err(Denied::Forbidden(_))));
        assert_eq!(check_read(&staff, &archived), Err(Denied::Hidden));
        assert_eq!(check_read(&archivist, &doc("BGS", Classification::Internal)), Err(Denied::Hidden), "not before it is archived");
        let secret = DocumentFacts { state: DocumentState::Archived, ..doc("BGS", Classification::Secret) };
        assert_eq!(check_read(&archivist, &secret), Err(Denied::Hidden), "clearance still first");
    }

    #[test]
    fn auditors_read_but_do_not_write() {
        let auditor = user("BGS", &[Role::Auditor], Classification::Secret);
        let d = doc("BGS", Classification::Internal);
        assert_eq!(check_read(&auditor, &d), Ok(()));
        assert!(matches!(check_revise(&auditor, &d), Err(Denied::Forbidden(_))));
        assert!(matches!(check_delete(&auditor, &d), Err(Denied::Forbidden(_))));
        assert!(matches!(check_archive(&auditor, &d), Err(Denied::Forbidden(_))));
        assert_eq!(check_audit_reader(&auditor), Ok(()));
        assert!(check_admin(&auditor).is_err());
    }

    #[test]
    fn creating_above_clearance_or_elsewhere_is_refused() {
        let staff = user("BGS", &[Role::Staff], Classification::Internal);
        assert!(check_create(&staff, "BGS", Classification::Internal).is_ok());
        assert!(check_create(&staff, "BGS", Classification::Confidential).is_err());
        assert!(check_create(&staff, "CWB", Classification::Public).is_err());
    }

    #[test]
    fn deleted_documents_are_gone_for_everyone() {
        let admin = user("ADMIN", &[Role::Admin], Classification::Secret);
        let mut d = doc("BGS", Classification::Public);
        d.deleted = true;
        assert_eq!(check_read(&admin, &d), Err(Denied::Hidden));
    }

    #[test]
    fn archived_and_withdrawn_documents_do_not_change() {
        for change in [Change::Revise, Change::Opinion, Change::Route, Change::Act, Change::Distribute, Change::Archive, Change::Delete] {
            assert!(matches!(state_allows(DocumentState::Archived, change), Err(Denied::Conflict(_))), "{change:?}");
        }
        for change in [Change::Revise, Change::Opinion, Change::Route, Change::Act, Change::Distribute, Change::Archive] {
            assert!(matches!(state_allows(DocumentState::Withdrawn, change), Err(Denied::Conflict(_))), "{change:?}");
        }
        assert_eq!(state_allows(DocumentState::Withdrawn, Change::Delete), Ok(()));
        assert_eq!(state_allows(DocumentState::Registered, Change::Archive), Ok(()));
        assert!(state_allows(DocumentState::InReview, Change::Archive).is_err());
        assert!(state_allows(DocumentState::Draft, Change::Distribute).is_err());
        assert_eq!(state_allows(DocumentState::Returned, Change::Revise), Ok(()));
    }

    #[test]
    fn the_state_rule_applies_to_those_who_may_act() {
        let clerk = user("BGS", &[Role::Clerk], Classification::Secret);
        let archived = DocumentFacts { state: DocumentState::Archived, ..doc("BGS", Classification::Internal) };
        assert!(matches!(check_revise(&clerk, &archived), Err(Denied::Conflict(_))));
        assert!(matches!(check_archive(&clerk, &archived), Err(Denied::Conflict(_))));
        let approved = DocumentFacts { state: DocumentState::Approved, ..doc("BGS", Classification::Internal) };
        let can = Abilities::of(&clerk, &approved);
        assert!(can.archive && can.revise && can.distribute && !can.route && !can.delete);
    }

    #[test]
    fn the_read_scope_is_the_read_check() {
        let archivist = user("DAS", &[Role::Archivist], Classification::Internal);
        let scope = ReadScope::of(&archivist);
        assert_eq!(scope.department, Some("DAS"));
        assert!(scope.archived_anywhere);
        let admin = user("ADMIN", &[Role::Admin], Classification::Secret);
        assert!(ReadScope::of(&admin).every_department());
    }

    #[test]
    fn assignees_are_cleared_and_sign_offs_are_leaders() {
        let staff = user("BGS", &[Role::Staff], Classification::Internal);
        assert!(check_assignee(&staff, Classification::Internal, false).is_ok());
        assert!(check_assignee(&staff, Classification::Confidential, false).is_err());
        assert!(check_assignee(&staff, Classification::Internal, true).is_err());
    }
}
