//! Who may read and who may change a document. One place decides, so the HTTP routes, search
//! and archive can never disagree about visibility.

use super::people::{Classification, Principal, Role};

/// What the rules need to know about a document.
#[derive(Clone, Debug)]
pub struct DocumentFacts<'a> {
    pub department: &'a str,
    pub classification: Classification,
    pub deleted: bool,
    /// 归档: archived documents are the archivists' to read, whatever their department.
    pub archived: bool,
    pub route: &'a RouteAccess,
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

/// A document no route or distribution reaches.
pub static NO_ROUTE: RouteAccess = RouteAccess { pending: Vec::new(), handled: Vec::new(), distributed: Vec::new() };

impl RouteAccess {
    fn pending_for(&self, who: &Principal) -> bool {
        self.pending.contains(&who.username)
    }

    fn handled_by(&self, who: &Principal) -> bool {
        self.handled.contains(&who.username)
    }
}

fn is_home(who: &Principal, doc: &DocumentFacts) -> bool {
    who.is_admin() || who.department == doc.department
}

/// Why an action is refused. `Hidden` must look exactly like a missing document (404), because
/// even its existence is something the caller may not learn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    Hidden,
    Forbidden(&'static str),
}

/// Reading: clearance first (a document above it does not exist for the caller, even for an
/// administrator), then department or administrator.
pub fn check_read(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    if doc.deleted || doc.classification > who.clearance {
        return Err(Denied::Hidden);
    }
    let route = doc.route;
    if is_home(who, doc) || route.pending_for(who) || route.handled_by(who) || route.distributed.contains(&who.department) {
        return Ok(());
    }
    if doc.archived && who.has_role(Role::Archivist) {
        return Ok(());
    }
    Err(Denied::Hidden)
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
    Ok(())
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
    Ok(())
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
    Ok(())
}

pub fn check_admin(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() { Ok(()) } else { Err(Denied::Forbidden("administrators only")) }
}

/// The audit trail is read by auditors and administrators.
pub fn check_audit_reader(who: &Principal) -> Result<(), Denied> {
    if who.is_admin() || who.has_role(Role::Auditor) {
        Ok(())
    } else {
        Err(Denied::Forbidden("auditors and administrators only"))
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
        DocumentFacts { department: dept, classification: c, deleted: false, archived: false, route: &NO_ROUTE }
    }

    #[test]
    fn a_route_opens_a_document_to_its_assignees_and_a_distribution_reads_only() {
        let leader = user("LD", &[Role::Leader], Classification::Internal);
        let mut reader = user("CWB", &[Role::Staff], Classification::Internal);
        reader.username = "r".into();
        let mut route = RouteAccess::default();
        let d = DocumentFacts { route: &route, ..doc("BGS", Classification::Internal) };
        assert_eq!(check_read(&leader, &d), Err(Denied::Hidden));
        route.pending.push("u".into());
        route.distributed.push("CWB".into());
        let d = DocumentFacts { route: &route, ..doc("BGS", Classification::Internal) };
        assert_eq!(check_revise(&leader, &d), Ok(()));
        assert_eq!(check_read(&reader, &d), Ok(()));
        assert!(matches!(check_revise(&reader, &d), Err(Denied::Forbidden(_))));
        assert!(matches!(check_opinion(&reader, &d), Err(Denied::Forbidden(_))));
        // Clearance still comes first.
        let d = DocumentFacts { route: &route, ..doc("BGS", Classification::Secret) };
        assert_eq!(check_read(&leader, &d), Err(Denied::Hidden));
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
        let archived = DocumentFacts { archived: true, ..doc("BGS", Classification::Internal) };
        assert_eq!(check_read(&archivist, &archived), Ok(()));
        assert!(matches!(check_revise(&archivist, &archived), Err(Denied::Forbidden(_))));
        assert_eq!(check_read(&staff, &archived), Err(Denied::Hidden));
        assert_eq!(check_read(&archivist, &doc("BGS", Classification::Internal)), Err(Denied::Hidden), "not before it is archived");
        let secret = DocumentFacts { archived: true, ..doc("BGS", Classification::Secret) };
        assert_eq!(check_read(&archivist, &secret), Err(Denied::Hidden), "clearance still first");
    }

    #[test]
    fn auditors_read_but_do_not_write() {
        let auditor = user("BGS", &[Role::Auditor], Classification::Secret);
        let d = doc("BGS", Classification::Internal);
        assert_eq!(check_read(&auditor, &d), Ok(()));
        assert!(matches!(check_revise(&auditor, &d), Err(Denied::Forbidden(_))));
        assert!(matches!(check_delete(&auditor, &d), Err(Denied::Forbidden(_))));
        assert_eq!(check_audit_reader(&auditor), Ok(()));
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
}
