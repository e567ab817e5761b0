//! Reading the policy where each system's management tools write it.

use std::path::{Path, PathBuf};

use crate::schema::{self, Scope};
use crate::value::RawValue;
use crate::{Level, Policy};

/// The Linux policy directory (Chrome's layout: `managed/` and `recommended/` JSON files).
pub const LINUX_POLICY_ROOT: &str = "/etc/conclave/policies";

/// The registry key under `HKLM` and `HKCU` (recommendations in its `Recommended` subkey).
pub const REGISTRY_KEY: &str = r"SOFTWARE\Policies\Conclave";

/// Policy files larger than this are refused (a policy is a few hundred bytes).
const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Files read at most per directory.
const MAX_FILES: usize = 64;

/// This system's sources.
pub fn load_system() -> Policy {
    #[cfg(windows)]
    {
        from_registry(&windows::SystemRegistry)
    }
    #[cfg(target_os = "macos")]
    {
        from_macos_preferences(&macos_forced_files(), &macos_recommended_files())
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        from_linux_root(Path::new(LINUX_POLICY_ROOT))
    }
}

/// Reads `root/managed/*.json` (enforced) and `root/recommended/*.json`. Within a directory,
/// files are read in name order and a later file's value wins, as in `conf.d` directories;
/// the overridden value is reported.
pub fn from_linux_root(root: &Path) -> Policy {
    let mut policy = Policy::none();
    for (level, dir) in [
        (Level::Enforced, root.join("managed")),
        (Level::Recommended, root.join("recommended")),
    ] {
        let mut files = match json_files(&dir) {
            Ok(files) => files,
            Err(problem) => {
                policy.report(&dir.display().to_string(), "", problem);
                continue;
            }
        };
        // Strongest first: the last name in order wins.
        files.reverse();
        for file in files {
            read_json_file(&mut policy, level, &file);
        }
    }
    policy
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("cannot read the directory: {error}")),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    if files.len() > MAX_FILES {
        return Err(format!("more than {MAX_FILES} policy files; none was read"));
    }
    Ok(files)
}

fn read_json_file(policy: &mut Policy, level: Level, file: &Path) {
    let origin = file.display().to_string();
    let text = match read_bounded(file) {
        Ok(text) => text,
        Err(problem) => return policy.report(&origin, "", problem),
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(members)) => {
            for (name, value) in &members {
                policy.add(level, &origin, name, &RawValue::from_json(value));
            }
        }
        Ok(_) => policy.report(&origin, "", "expected a JSON object of policy keys".into()),
        Err(error) => policy.report(&origin, "", format!("not valid JSON: {error}")),
    }
}

fn read_bounded(file: &Path) -> Result<String, String> {
    let size = std::fs::metadata(file)
        .map_err(|error| format!("cannot read: {error}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes; not read"));
    }
    std::fs::read_to_string(file).map_err(|error| format!("cannot read: {error}"))
}

/// A registry hive the policy is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hive {
    LocalMachine,
    CurrentUser,
}

impl Hive {
    fn name(self) -> &'static str {
        match self {
            Hive::LocalMachine => "HKLM",
            Hive::CurrentUser => "HKCU",
        }
    }
}

/// Read access to the Windows registry, behind a trait so the rules are tested everywhere
/// (the real registry is exercised by the MSI's test under Wine).
pub trait RegistryReader {
    /// The values of `hive\path`; an absent key is an empty list.
    fn values(&self, hive: Hive, path: &str) -> Result<Vec<(String, RawValue)>, String>;
}

/// Enforced: `HKLM\SOFTWARE\Policies\Conclave`, then `HKCU\…` (machine wins); recommended:
/// their `Recommended` subkeys. A machine-only key found under `HKCU` is reported and ignored,
/// so a user-scope policy cannot change what only the machine's administrator may.
pub fn from_registry(reader: &dyn RegistryReader) -> Policy {
    let mut policy = Policy::none();
    let recommended_key = format!(r"{REGISTRY_KEY}\Recommended");
    for (level, path) in [
        (Level::Enforced, REGISTRY_KEY),
        (Level::Recommended, recommended_key.as_str()),
    ] {
        for hive in [Hive::LocalMachine, Hive::CurrentUser] {
            let origin = format!(r"{}\{path}", hive.name());
            let values = match reader.values(hive, path) {
                Ok(values) => values,
                Err(problem) => {
                    policy.report(&origin, "", problem);
                    continue;
                }
            };
            for (name, raw) in values.iter().take(MAX_FILES * 4) {
                let machine_only = schema::by_name(name).is_some_and(|d| d.scope == Scope::Machine);
                if hive == Hive::CurrentUser && machine_only {
                    let problem = "this key is read only from HKLM".to_owned();
                    policy.report(&origin, name, problem);
                    continue;
                }
                policy.add(level, &origin, name, raw);
            }
        }
    }
    policy
}

/// macOS: forced values from the managed preferences an MDM profile installs (the user's,
/// then the computer's), recommended ones from the user's own preference domain (what
/// `defaults write app.conclave.Conclave …` sets; the app keeps its settings elsewhere).
pub fn from_macos_preferences(forced: &[PathBuf], recommended: &[PathBuf]) -> Policy {
    let mut policy = Policy::none();
    for (level, files) in [(Level::Enforced, forced), (Level::Recommended, recommended)] {
        for file in files {
            read_plist_file(&mut policy, level, file);
        }
    }
    policy
}

fn read_plist_file(policy: &mut Policy, level: Level, file: &Path) {
    let origin = file.display().to_string();
    match std::fs::metadata(file) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
        Err(error) => return policy.report(&origin, "", format!("cannot read: {error}")),
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            return policy.report(&origin, "", format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        Ok(_) => {}
    }
    match plist::Value::from_file(file) {
        Ok(plist::Value::Dictionary(entries)) => {
            for (name, value) in &entries {
                policy.add(level, &origin, name, &RawValue::from_plist(value));
            }
        }
        Ok(_) => policy.report(&origin, "", "expected a dictionary of policy keys".into()),
        Err(error) => policy.report(&origin, "", format!("not a property list: {error}")),
    }
}

/// `/Library/Managed Preferences/<user>/<bundle>.plist`, then the computer-wide one.
pub fn macos_forced_files() -> Vec<PathBuf> {
    let base = Path::new("/Library/Managed Preferences");
    let file = format!("{}.plist", crate::BUNDLE_ID);
    let mut files = Vec::new();
    if let Some(user) = std::env::var_os("USER") {
        files.push(base.join(user).join(&file));
    }
    files.push(base.join(&file));
    files
}

/// `~/Library/Preferences/<bundle>.plist`.
pub fn macos_recommended_files() -> Vec<PathBuf> {
    std::env::var_os("HOME")
        .map(|home| {
            vec![
                PathBuf::from(home)
                    .join("Library/Preferences")
                    .join(format!("{}.plist", crate::BUNDLE_ID)),
            ]
        })
        .unwrap_or_default()
}

#[cfg(windows)]
mod windows {
    use winreg::RegKey;
    use winreg::enums::{
        HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE, KEY_READ, KEY_WOW64_64KEY, RegType,
    };

    use super::{Hive, RegistryReader};
    use crate::value::RawValue;

    /// The machine's registry, 64-bit view (where the 64-bit MSI writes).
    pub struct SystemRegistry;

    impl RegistryReader for SystemRegistry {
        fn values(&self, hive: Hive, path: &str) -> Result<Vec<(String, RawValue)>, String> {
            let root = RegKey::predef(match hive {
                Hive::LocalMachine => HKEY_LOCAL_MACHINE,
                Hive::CurrentUser => HKEY_CURRENT_USER,
            });
            let key = match root.open_subkey_with_flags(path, KEY_READ | KEY_WOW64_64KEY) {
                Ok(key) => key,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Vec::new());
                }
                Err(error) => return Err(format!("cannot open: {error}")),
            };
            let mut values = Vec::new();
            for entry in key.enum_values() {
                let (name, value) = entry.map_err(|error| format!("cannot read: {error}"))?;
                let raw = match value.vtype {
                    RegType::REG_DWORD => value
                        .bytes
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .map(|b| RawValue::Integer(i64::from(u32::from_le_bytes(b))))
                        .unwrap_or(RawValue::Other("a damaged number")),
                    RegType::REG_SZ | RegType::REG_EXPAND_SZ => {
                        RawValue::Text(value.to_string().trim_end_matches('\0').to_owned())
                    }
                    _ => RawValue::Other("an unsupported registry type"),
                };
                values.push((name, raw));
            }
            Ok(values)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::{PolicyKey, Source};

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn linux_managed_and_recommended_files_are_read_in_chromes_layout() {
        let root = tempfile::tempdir().expect("temp dir");
        write(
            &root.path().join("managed/10-org.json"),
            r#"{"ServerUrl": "https://meet.example.com:8443", "AllowGuestJoin": false}"#,
        );
        write(
            &root.path().join("managed/20-site.json"),
            r#"{"AllowGuestJoin": true, "LockServer": "sometimes"}"#,
        );
        write(&root.path().join("managed/notes.txt"), "not a policy");
        write(&root.path().join("managed/30-broken.json"), "{ nope");
        write(
            &root.path().join("recommended/lang.json"),
            r#"{"DefaultLanguage": "ja", "DefaultAutoLockMinutes": 15}"#,
        );
        let policy = from_linux_root(root.path());
        assert_eq!(
            policy.resolve(PolicyKey::ServerUrl, None).text(),
            Some("meet.example.com:8443")
        );
        // The later file wins, and the overridden value is reported.
        assert_eq!(
            policy.enforced(PolicyKey::AllowGuestJoin),
            Some(&crate::PolicyValue::Bool(true))
        );
        assert!(!policy.is_enforced(PolicyKey::LockServer));
        let language = policy.resolve(PolicyKey::DefaultLanguage, None);
        assert!(matches!(language.source, Source::Recommended(ref o) if o.ends_with("lang.json")));
        assert_eq!(
            policy
                .resolve(PolicyKey::DefaultAutoLockMinutes, None)
                .integer(),
            Some(15)
        );
        let problems: Vec<String> = policy.issues().iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("30-broken.json") && p.contains("not valid JSON"))
        );
        assert!(problems.iter().any(|p| p.contains("LockServer")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("10-org.json") && p.contains("20-site.json"))
        );
    }

    #[test]
    fn a_missing_policy_directory_is_no_policy_and_no_problem() {
        let root = tempfile::tempdir().expect("temp dir");
        let policy = from_linux_root(&root.path().join("absent"));
        assert_eq!(policy, Policy::none());
    }

    #[test]
    fn an_oversized_or_non_object_file_is_reported_not_read() {
        let root = tempfile::tempdir().expect("temp dir");
        let huge = format!(r#"{{"ServerUrl": "{}"}}"#, "a".repeat(300 * 1024));
        write(&root.path().join("managed/huge.json"), &huge);
        write(&root.path().join("managed/list.json"), "[1, 2]");
        let policy = from_linux_root(root.path());
        assert!(!policy.is_enforced(PolicyKey::ServerUrl));
        assert_eq!(policy.issues().len(), 2);
    }

    struct FakeRegistry(HashMap<(&'static str, String), Vec<(String, RawValue)>>);

    impl RegistryReader for FakeRegistry {
        fn values(&self, hive: Hive, path: &str) -> Result<Vec<(String, RawValue)>, String> {
            Ok(self
                .0
                .get(&(hive.name(), path.to_owned()))
                .cloned()
                .unwrap_or_default())
        }
    }

    #[test]
    fn registry_machine_policy_beats_user_policy_and_user_scope_cannot_set_machine_keys() {
        let mut keys = HashMap::new();
        keys.insert(
            ("HKLM", REGISTRY_KEY.to_owned()),
            vec![
                (
                    "ServerUrl".to_owned(),
                    RawValue::Text("meet.example.com:8443".into()),
                ),
                ("LockServer".to_owned(), RawValue::Integer(1)),
            ],
        );
        keys.insert(
            ("HKCU", REGISTRY_KEY.to_owned()),
            vec![
                (
                    "ServerUrl".to_owned(),
                    RawValue::Text("evil.example:1".into()),
                ),
                (
                    "OrgKeyFingerprint".to_owned(),
                    RawValue::Text("ab".repeat(32)),
                ),
                ("AllowGuestJoin".to_owned(), RawValue::Integer(0)),
            ],
        );
        keys.insert(
            ("HKCU", format!(r"{REGISTRY_KEY}\Recommended")),
            vec![("DefaultLobby".to_owned(), RawValue::Integer(0))],
        );
        let policy = from_registry(&FakeRegistry(keys));
        assert_eq!(
            policy.resolve(PolicyKey::ServerUrl, None).source,
            Source::Enforced(format!(r"HKLM\{REGISTRY_KEY}"))
        );
        assert!(policy.resolve(PolicyKey::LockServer, None).bool_or(false));
        assert!(!policy.is_enforced(PolicyKey::OrgKeyFingerprint));
        assert!(
            !policy
                .resolve(PolicyKey::AllowGuestJoin, None)
                .bool_or(true)
        );
        assert!(!policy.resolve(PolicyKey::DefaultLobby, None).bool_or(true));
        assert!(!policy.is_enforced(PolicyKey::DefaultLobby));
        assert_eq!(policy.issues().len(), 2, "{:?}", policy.issues());
    }

    #[test]
    fn macos_forced_and_recommended_preferences_are_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let forced = dir.path().join("forced.plist");
        let mut entries = plist::Dictionary::new();
        entries.insert("AllowLocalHosting".into(), plist::Value::Boolean(false));
        entries.insert(
            "DefaultAutoLockMinutes".into(),
            plist::Value::Integer(30.into()),
        );
        entries.insert("AllowGuestJoin".into(), plist::Value::Real(1.5));
        plist::Value::Dictionary(entries)
            .to_file_xml(&forced)
            .expect("plist");
        let recommended = dir.path().join("recommended.plist");
        let mut entries = plist::Dictionary::new();
        entries.insert("DefaultLanguage".into(), plist::Value::String("ja".into()));
        plist::Value::Dictionary(entries)
            .to_file_binary(&recommended)
            .expect("plist");
        write(&dir.path().join("garbage.plist"), "garbage");

        let policy = from_macos_preferences(
            &[
                forced,
                dir.path().join("garbage.plist"),
                dir.path().join("absent.plist"),
            ],
            &[recommended],
        );
        assert!(
            !policy
                .resolve(PolicyKey::AllowLocalHosting, None)
                .bool_or(true)
        );
        assert_eq!(
            policy
                .resolve(PolicyKey::DefaultAutoLockMinutes, None)
                .integer(),
            Some(30)
        );
        assert_eq!(
            policy.resolve(PolicyKey::DefaultLanguage, None).text(),
            Some("ja")
        );
        assert_eq!(policy.issues().len(), 2, "{:?}", policy.issues());
    }
}
