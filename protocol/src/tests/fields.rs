//! Tests of the field newtypes, secret redaction, error codes and the field-error slot.

use super::*;

#[test]
fn meeting_numbers() {
    let n = MeetingNumber::parse("123-456 789").unwrap();
    assert_eq!(n.as_str(), "123456789");
    assert_eq!(n.to_string(), "123 456 789");
    let grouped = |s: &str| MeetingNumber::parse(s).unwrap().to_string();
    assert_eq!(grouped("1234567890"), "123 456 7890");
    assert_eq!(grouped("12345678901"), "123 4567 8901");
    assert_eq!(grouped("123456789012"), "123 456 789 012");
    assert_eq!(grouped("１２３\u{3000}４５６－７８９"), "123 456 789");
    assert_eq!(grouped(" 012 345 678 "), "012 345 678");
    assert_eq!(
        "987654321".parse::<MeetingNumber>().unwrap().as_str(),
        "987654321"
    );

    assert!(matches!(
        MeetingNumber::parse("12345678a"),
        Err(ProtocolError::InvalidField {
            field: "meeting",
            ..
        })
    ));
    assert!(matches!(
        MeetingNumber::parse("12345678"),
        Err(ProtocolError::InvalidField {
            field: "meeting",
            ..
        })
    ));
    assert!(MeetingNumber::parse("").is_err());
    assert!(MeetingNumber::parse("٣٣٣٣٣٣٣٣٣").is_err()); // non-ASCII, non-full-width digits
    assert_eq!(
        MeetingNumber::parse("1234567890123"),
        Err(ProtocolError::FieldTooLong {
            field: "meeting",
            len: 13,
            max: MAX_MEETING_DIGITS
        })
    );

    let join_with = |number: &str| {
        format!(
            r#"{{"v":1,"type":"join","meeting":"{number}","password":null,"display_name":"A","key_package":"AQID"}}"#
        )
    };
    assert!(matches!(
        decode_client(&join_with("abcdefghi")),
        Err(ProtocolError::InvalidField {
            field: "meeting",
            ..
        })
    ));
    assert!(matches!(
        decode_client(&join_with("1234")),
        Err(ProtocolError::InvalidField {
            field: "meeting",
            ..
        })
    ));
    assert!(matches!(
        decode_client(&join_with("1234567890123")),
        Err(ProtocolError::FieldTooLong {
            field: "meeting",
            ..
        })
    ));
    // Numbers are strings on the wire, so leading zeros survive.
    assert_malformed(
        decode_client(
            r#"{"v":1,"type":"join","meeting":123456789,"password":null,"display_name":"A","key_package":"AQID"}"#,
        ),
        "invalid type",
    );
    match decode_client(&join_with("123-456-789")).unwrap() {
        ClientMessage::Join { meeting, .. } => assert_eq!(meeting.as_str(), "123456789"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn display_names() {
    assert_eq!(DisplayName::new("  Bob  ").unwrap().as_str(), "Bob");
    assert_eq!(
        DisplayName::new(&"名".repeat(64))
            .unwrap()
            .as_str()
            .chars()
            .count(),
        64
    );
    assert!(matches!(
        DisplayName::new(""),
        Err(ProtocolError::InvalidField {
            field: "display_name",
            ..
        })
    ));
    assert!(matches!(
        DisplayName::new(" \t\u{3000} "),
        Err(ProtocolError::InvalidField {
            field: "display_name",
            ..
        })
    ));
    assert_eq!(
        DisplayName::new(&"x".repeat(65)),
        Err(ProtocolError::FieldTooLong {
            field: "display_name",
            len: 65,
            max: MAX_DISPLAY_NAME_CHARS
        })
    );
    for bad in [
        "a\nb",
        "a\u{0}b",
        "a\u{7f}",
        "evil\u{202E}gnp.exe",
        "x\u{2066}y",
    ] {
        assert!(
            matches!(
                DisplayName::new(bad),
                Err(ProtocolError::InvalidField {
                    field: "display_name",
                    ..
                })
            ),
            "{bad:?}"
        );
    }

    let join_named = |display: &str| {
        format!(
            r#"{{"v":1,"type":"join","meeting":"123456789","password":null,"display_name":{},"key_package":"AQID"}}"#,
            serde_json::to_string(display).unwrap()
        )
    };
    assert!(matches!(
        decode_client(&join_named("")),
        Err(ProtocolError::InvalidField {
            field: "display_name",
            ..
        })
    ));
    assert!(matches!(
        decode_client(&join_named("   ")),
        Err(ProtocolError::InvalidField {
            field: "display_name",
            ..
        })
    ));
    assert_eq!(
        decode_client(&join_named(&"y".repeat(100))),
        Err(ProtocolError::FieldTooLong {
            field: "display_name",
            len: 100,
            max: MAX_DISPLAY_NAME_CHARS
        })
    );
    // Names arriving with surrounding whitespace are trimmed.
    match decode_client(&join_named("  Aiko ")).unwrap() {
        ClientMessage::Join { display_name, .. } => assert_eq!(display_name.as_str(), "Aiko"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn passwords_reasons_and_tokens() {
    assert!(matches!(
        MeetingPassword::new(""),
        Err(ProtocolError::InvalidField {
            field: "password",
            ..
        })
    ));
    assert!(MeetingPassword::new("p".repeat(MAX_PASSWORD_CHARS)).is_ok());
    assert!(matches!(
        MeetingPassword::new("p".repeat(MAX_PASSWORD_CHARS + 1)),
        Err(ProtocolError::FieldTooLong {
            field: "password",
            ..
        })
    ));
    assert_eq!(
        MeetingPassword::new(" spaced ").unwrap().expose(),
        " spaced "
    );
    assert!(Reason::new("").is_ok());
    assert!(matches!(
        Reason::new("r".repeat(MAX_REASON_CHARS + 1)),
        Err(ProtocolError::FieldTooLong {
            field: "reason",
            ..
        })
    ));
    let text = format!(
        r#"{{"v":1,"type":"deny","participant":1,"reason":"{}"}}"#,
        "r".repeat(MAX_REASON_CHARS + 1)
    );
    assert!(matches!(
        decode_client(&text),
        Err(ProtocolError::FieldTooLong {
            field: "reason",
            ..
        })
    ));

    let token = BearerToken::new("eyJhbGciOi.payload.sig").unwrap();
    assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
    assert_eq!(
        token.authorization_header_value(),
        "Bearer eyJhbGciOi.payload.sig"
    );
    assert_eq!(
        BearerToken::from_authorization_header("bearer  eyJhbGciOi.payload.sig").unwrap(),
        token
    );
    assert!(BearerToken::from_authorization_header("Basic abc").is_err());
    assert!(BearerToken::from_authorization_header("Bearer").is_err());
    assert!(BearerToken::new("a b").is_err());
    assert!(BearerToken::new("a\r\nX-Evil: 1").is_err());
    assert!(BearerToken::new("").is_err());
    assert!(matches!(
        BearerToken::new("t".repeat(MAX_BEARER_TOKEN_CHARS + 1)),
        Err(ProtocolError::FieldTooLong {
            field: "bearer_token",
            ..
        })
    ));
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let debug = format!("{:?}", join());
    assert!(!debug.contains("correct horse"), "{debug}");
    assert!(debug.contains("MeetingPassword(<redacted>)"), "{debug}");

    // A password that is too long: the error names the field and the rule only.
    let secret = "s3cret-".repeat(30);
    let text = format!(
        r#"{{"v":1,"type":"join","meeting":"123456789","password":"{secret}","display_name":"A","key_package":"AQID"}}"#
    );
    let error = decode_client(&text).unwrap_err();
    assert!(matches!(
        error,
        ProtocolError::FieldTooLong {
            field: "password",
            ..
        }
    ));
    assert!(!error.to_string().contains("s3cret"));

    // A confused client puts a password where a number belongs: serde would quote it.
    let text = r#"{"v":1,"type":"admit","participant":"hunter2"}"#;
    let error = decode_client(text).unwrap_err();
    let shown = error.to_string();
    assert!(matches!(error, ProtocolError::Malformed(_)));
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    let error = decode_client(r#"{"v":"hunter2"}"#).unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[test]
fn redaction_handles_escapes_and_truncation() {
    assert_eq!(
        redact_string_values(r#"invalid type: string "a\"b", expected u64 at line 1"#),
        r#"invalid type: string "<redacted>", expected u64 at line 1"#
    );
    assert_eq!(
        redact_string_values(r#"string "x" and string "y""#),
        r#"string "<redacted>" and string "<redacted>""#
    );
    assert_eq!(
        redact_string_values(r#"string "unterminated"#),
        r#"string "<redacted>""#
    );
    assert_eq!(redact_string_values("plain"), "plain");
}

#[test]
fn error_codes_for_protocol_errors() {
    assert_eq!(
        ProtocolError::TooLarge { len: 1, max: 0 }.error_code(),
        ErrorCode::MessageTooLarge
    );
    assert_eq!(
        ProtocolError::Malformed(String::new()).error_code(),
        ErrorCode::BadRequest
    );
    assert_eq!(
        ProtocolError::UnsupportedVersion { got: 9 }.to_string(),
        "unsupported protocol version 9 (this build speaks version 1)"
    );
}

#[test]
fn field_error_slot_does_not_leak_between_decodes() {
    // A failed newtype parse outside decode parks nothing that a later decode reports.
    let _ = serde_json::from_str::<DisplayName>(r#""""#);
    assert_malformed(decode_client(r#"{"v":1,"type":"nope"}"#), "unknown variant");
    assert!(decode_client(JOIN_JSON).is_ok());
}
