//! Every policy key, defined once: its name (the same in the registry, the macOS preference
//! domain and the Linux JSON files), type, default, scope, whether it may be only recommended,
//! and its English and Japanese text. The templates in `packaging/policy/` and the table of
//! `docs/it-deployment.md` are generated from this list (`cargo xtask policy`).

/// A policy key. The string name is [`PolicyDef::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKey {
    ServerUrl,
    ServerPin,
    LockServer,
    AllowGuestJoin,
    AllowLocalHosting,
    AllowLanHosting,
    OrgKeyFingerprint,
    DefaultLanguage,
    UpdateCheck,
    UpdateCheckUrl,
    DefaultLobby,
    DefaultRequireSignIn,
    DefaultAutoLockMinutes,
}

/// What a text value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// `host:port` or `https://host:port` (stored as `host:port`).
    ServerAddress,
    /// A SHA-256 fingerprint: 64 hex digits, colons allowed between bytes.
    Sha256Fingerprint,
    /// An `https://` address.
    HttpsUrl,
}

/// The type of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// A whole number in `min..=max`.
    Integer {
        min: u32,
        max: u32,
    },
    /// Text of at most `max_len` bytes in the given format.
    Text {
        max_len: usize,
        format: TextFormat,
    },
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
}

/// Where on Windows a key may be set (ADMX `class`): security keys only per machine, so a
/// user-scope policy can never loosen what the machine's administrator decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Machine,
    MachineOrUser,
}

/// A key's built-in value when no policy and no user setting says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    Bool(bool),
    Integer(u32),
    Text(&'static str),
    /// No value: the app decides (for example, the OS language).
    Unset,
}

/// A title and an explanation, in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub title: &'static str,
    pub explain: &'static str,
}

/// One policy key's whole definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyDef {
    pub key: PolicyKey,
    /// The value's name in every format: registry value, plist key, JSON member.
    pub name: &'static str,
    pub kind: Kind,
    pub default: Default,
    pub scope: Scope,
    /// May be set as a recommendation (a default the user may change); keys that only make
    /// sense enforced (locking the server, trusting a key) may not.
    pub recommendable: bool,
    /// The MSI public property that writes it, when the installer has one.
    pub msi_property: Option<&'static str>,
    pub en: Text,
    pub ja: Text,
    /// An example value for the generated samples.
    pub example: &'static str,
}

/// Languages the app's interface offers (and `DefaultLanguage` accepts).
pub const LANGUAGES: &[&str] = &["en", "ja"];

/// Every key, in the order templates and documentation list them.
pub const POLICIES: &[PolicyDef] = &[
    PolicyDef {
        key: PolicyKey::ServerUrl,
        name: "ServerUrl",
        kind: Kind::Text {
            max_len: 255,
            format: TextFormat::ServerAddress,
        },
        default: Default::Unset,
        scope: Scope::MachineOrUser,
        recommendable: true,
        msi_property: Some("SERVER_URL"),
        en: Text {
            title: "Meeting server",
            explain: "The meeting server the app signs in to, as host:port or https://host:port. Enforced, it is the only server offered; recommended, it is filled in and the user may change it.",
        },
        ja: Text {
            title: "会議サーバ",
            explain: "アプリがサインインする会議サーバ（host:port または https://host:port）。強制するとこのサーバだけが表示され、推奨にすると初期値として入力され、利用者が変更できます。",
        },
        example: "https://meet.example.com:8443",
    },
    PolicyDef {
        key: PolicyKey::ServerPin,
        name: "ServerPin",
        kind: Kind::Text {
            max_len: 128,
            format: TextFormat::Sha256Fingerprint,
        },
        default: Default::Unset,
        scope: Scope::Machine,
        recommendable: false,
        msi_property: Some("SERVER_PIN"),
        en: Text {
            title: "Meeting server certificate pin",
            explain: "SHA-256 fingerprint of the meeting server's certificate, for a server whose certificate is not issued by a public authority. Without it the system's trusted authorities are used.",
        },
        ja: Text {
            title: "会議サーバ証明書のピン",
            explain: "会議サーバの証明書の SHA-256 フィンガープリント。公的な認証局が発行していない証明書のサーバに使います。設定しない場合は OS が信頼する認証局で検証します。",
        },
        example: "5F:0A:6B:1C:2D:3E:4F:50:61:72:83:94:A5:B6:C7:D8:E9:FA:0B:1C:2D:3E:4F:50:61:72:83:94:A5:B6:C7:D8",
    },
    PolicyDef {
        key: PolicyKey::LockServer,
        name: "LockServer",
        kind: Kind::Bool,
        default: Default::Bool(false),
        scope: Scope::Machine,
        recommendable: false,
        msi_property: Some("LOCK_SERVER"),
        en: Text {
            title: "Use only the organisation's server",
            explain: "When enabled, the app uses only the server set by ServerUrl: no other server can be typed in, and meeting links or the --server option that name another server are refused.",
        },
        ja: Text {
            title: "組織のサーバだけを使う",
            explain: "有効にすると、ServerUrl で指定したサーバだけを使います。別のサーバを入力できず、別のサーバを指す会議リンクや --server オプションは拒否されます。",
        },
        example: "true",
    },
    PolicyDef {
        key: PolicyKey::AllowGuestJoin,
        name: "AllowGuestJoin",
        kind: Kind::Bool,
        default: Default::Bool(true),
        scope: Scope::MachineOrUser,
        recommendable: false,
        msi_property: Some("ALLOW_GUEST_JOIN"),
        en: Text {
            title: "Allow joining as a guest",
            explain: "When disabled, people must sign in with an account to join meetings: the app hides \"Continue as guest\".",
        },
        ja: Text {
            title: "ゲスト参加を許可する",
            explain: "無効にすると、会議に参加するにはアカウントでのサインインが必要になり、「ゲストとして続ける」が表示されなくなります。",
        },
        example: "false",
    },
    PolicyDef {
        key: PolicyKey::AllowLocalHosting,
        name: "AllowLocalHosting",
        kind: Kind::Bool,
        default: Default::Bool(true),
        scope: Scope::MachineOrUser,
        recommendable: false,
        msi_property: Some("ALLOW_LOCAL_HOSTING"),
        en: Text {
            title: "Allow hosting on this computer",
            explain: "When disabled, the app cannot run its own meeting server on this computer (\"Host on this computer\" is hidden).",
        },
        ja: Text {
            title: "このコンピューターでの開催を許可する",
            explain: "無効にすると、このコンピューター上で会議サーバを動かせなくなります（「このコンピューターで開催」が表示されなくなります）。",
        },
        example: "false",
    },
    PolicyDef {
        key: PolicyKey::AllowLanHosting,
        name: "AllowLanHosting",
        kind: Kind::Bool,
        default: Default::Bool(true),
        scope: Scope::MachineOrUser,
        recommendable: false,
        msi_property: None,
        en: Text {
            title: "Allow hosting for the local network",
            explain: "When disabled, a meeting hosted on this computer is reachable only from this computer, never from the local network.",
        },
        ja: Text {
            title: "ローカルネットワーク向けの開催を許可する",
            explain: "無効にすると、このコンピューターで開催した会議にはこのコンピューターからしか接続できず、ローカルネットワークからは接続できません。",
        },
        example: "false",
    },
    PolicyDef {
        key: PolicyKey::OrgKeyFingerprint,
        name: "OrgKeyFingerprint",
        kind: Kind::Text {
            max_len: 128,
            format: TextFormat::Sha256Fingerprint,
        },
        default: Default::Unset,
        scope: Scope::Machine,
        recommendable: false,
        msi_property: None,
        en: Text {
            title: "Trusted organisation key",
            explain: "SHA-256 fingerprint of the organisation key that certifies members' accounts. The app refuses a server that presents another key, and shows members certified by another key as not verified.",
        },
        ja: Text {
            title: "信頼する組織の鍵",
            explain: "参加者のアカウントを証明する組織の鍵の SHA-256 フィンガープリント。別の鍵を示すサーバは拒否し、別の鍵で証明された参加者は「未確認」と表示します。",
        },
        example: "9C:41:0E:7A:55:12:B3:8D:6F:20:C4:91:AE:37:5B:08:D2:6E:1F:94:3A:C7:80:5D:E2:19:4B:A6:73:0F:CE:58",
    },
    PolicyDef {
        key: PolicyKey::DefaultLanguage,
        name: "DefaultLanguage",
        kind: Kind::Choice(LANGUAGES),
        default: Default::Unset,
        scope: Scope::MachineOrUser,
        recommendable: true,
        msi_property: Some("DEFAULT_LANGUAGE"),
        en: Text {
            title: "Interface language",
            explain: "The language of the app (en or ja). Without it the app follows the system's language.",
        },
        ja: Text {
            title: "表示言語",
            explain: "アプリの表示言語（en または ja）。設定しない場合は OS の言語に従います。",
        },
        example: "ja",
    },
    PolicyDef {
        key: PolicyKey::UpdateCheck,
        name: "UpdateCheck",
        kind: Kind::Bool,
        default: Default::Bool(true),
        scope: Scope::MachineOrUser,
        recommendable: true,
        msi_property: Some("UPDATE_CHECK"),
        en: Text {
            title: "Check for updates",
            explain: "When enabled, the app compares its version with the versions the meeting server (or UpdateCheckUrl) announces and tells the user when an update is available or required.",
        },
        ja: Text {
            title: "更新を確認する",
            explain: "有効にすると、会議サーバ（または UpdateCheckUrl）が知らせるバージョンと比べ、更新があるときや必要なときに利用者に知らせます。",
        },
        example: "true",
    },
    PolicyDef {
        key: PolicyKey::UpdateCheckUrl,
        name: "UpdateCheckUrl",
        kind: Kind::Text {
            max_len: 512,
            format: TextFormat::HttpsUrl,
        },
        default: Default::Unset,
        scope: Scope::Machine,
        recommendable: false,
        msi_property: None,
        en: Text {
            title: "Update check address",
            explain: "The https:// address the update check asks instead of the meeting server.",
        },
        ja: Text {
            title: "更新確認の問い合わせ先",
            explain: "更新の確認で、会議サーバの代わりに問い合わせる https:// のアドレス。",
        },
        example: "https://updates.example.com/conclave/versions.json",
    },
    PolicyDef {
        key: PolicyKey::DefaultLobby,
        name: "DefaultLobby",
        kind: Kind::Bool,
        default: Default::Bool(true),
        scope: Scope::MachineOrUser,
        recommendable: true,
        msi_property: None,
        en: Text {
            title: "New meetings: lobby on",
            explain: "Whether meetings scheduled in the app start with the lobby on (the host admits each person).",
        },
        ja: Text {
            title: "新しい会議: ロビーを使う",
            explain: "アプリで予約する会議で、ロビー（主催者が一人ずつ入室を許可する）を最初から有効にするかどうか。",
        },
        example: "true",
    },
    PolicyDef {
        key: PolicyKey::DefaultRequireSignIn,
        name: "DefaultRequireSignIn",
        kind: Kind::Bool,
        default: Default::Bool(false),
        scope: Scope::MachineOrUser,
        recommendable: true,
        msi_property: None,
        en: Text {
            title: "New meetings: require sign-in",
            explain: "Whether meetings scheduled in the app admit only signed-in accounts (no guests).",
        },
        ja: Text {
            title: "新しい会議: サインインを必須にする",
            explain: "アプリで予約する会議に、サインインしたアカウントだけが参加できるようにするかどうか（ゲスト不可）。",
        },
        example: "true",
    },
    PolicyDef {
        key: PolicyKey::DefaultAutoLockMinutes,
        name: "DefaultAutoLockMinutes",
        kind: Kind::Integer { min: 0, max: 1440 },
        default: Default::Integer(0),
        scope: Scope::MachineOrUser,
        recommendable: true,
        msi_property: None,
        en: Text {
            title: "New meetings: lock after (minutes)",
            explain: "Meetings scheduled in the app lock themselves this many minutes after they start; 0 leaves them unlocked.",
        },
        ja: Text {
            title: "新しい会議: 自動ロックまでの時間（分）",
            explain: "アプリで予約する会議を、開始からこの分数が経つと自動でロックします。0 の場合はロックしません。",
        },
        example: "10",
    },
];

/// The definition of `key`.
pub fn def(key: PolicyKey) -> &'static PolicyDef {
    POLICIES
        .iter()
        .find(|def| def.key == key)
        .unwrap_or(&POLICIES[0])
}

/// The definition named `name` (exact match, as registry and plist names are compared).
pub fn by_name(name: &str) -> Option<&'static PolicyDef> {
    POLICIES.iter().find(|def| def.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_defined_once_and_found_by_its_name() {
        for def_entry in POLICIES {
            assert_eq!(def(def_entry.key), def_entry);
            assert_eq!(by_name(def_entry.name), Some(def_entry));
            assert_eq!(
                POLICIES.iter().filter(|d| d.key == def_entry.key).count(),
                1
            );
            assert!(!def_entry.en.explain.is_empty() && !def_entry.ja.explain.is_empty());
        }
        assert_eq!(by_name("serverurl"), None, "names are exact");
    }
}
