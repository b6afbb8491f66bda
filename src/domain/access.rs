//! Who may read and who may change a document. One place decides, so the HTTP routes, search
//! and archive can never disagree about visibility.

use super::people::{Classification, Principal, Role};

/// What the rules need to know about a document.
#[derive(Clone, Debug)]
pub struct DocumentFacts<'a> {
    pub department: &'a str,
    pub classification: Classification,
    pub deleted: bool,
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
    if who.is_admin() || who.department == doc.department {
        return Ok(());
    }
    Err(Denied::Hidden)
}

/// Roles that write documents; archivists and auditors read, they do not draft.
const WRITERS: &[Role] = &[Role::Clerk, Role::Staff, Role::Leader, Role::Admin];

fn is_writer(who: &Principal) -> bool {
    WRITERS.iter().any(|r| who.has_role(*r))
}

/// Adding a revision: the reader must also hold a writing role.
pub fn check_revise(who: &Principal, doc: &DocumentFacts) -> Result<(), Denied> {
    check_read(who, doc)?;
    if !is_writer(who) {
        return Err(Denied::Forbidden("your roles do not include one that edits documents (clerk, staff, leader, admin)"));
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
        DocumentFacts { department: dept, classification: c, deleted: false }
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
