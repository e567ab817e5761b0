#![allow(clippy::unwrap_used)]

use super::*;

fn settings(download_url: Option<&str>) -> JoinPageSettings {
    JoinPageSettings {
        public_address: "meet.example.org:8443".into(),
        download_url: download_url.map(str::to_owned),
    }
}

async fn get(settings: JoinPageSettings, number: &str, accept: Option<&str>) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(accept) = accept {
        headers.insert(header::ACCEPT_LANGUAGE, accept.parse().unwrap());
    }
    join_page(State(Arc::new(settings)), Path(number.to_owned()), headers).await
}

async fn body(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn accept_language_is_ranked_by_q_value_then_order() {
    let cases = [
        (None, Lang::En),
        (Some(""), Lang::En),
        (Some("ja"), Lang::Ja),
        (Some("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7"), Lang::Ja),
        (Some("en-US,en;q=0.9,ja;q=0.8"), Lang::En),
        (Some("ja;q=0.5, en;q=0.9"), Lang::En),
        (Some("en;q=0.4, JA-jp;q=0.6"), Lang::Ja),
        // French is preferred but not offered: Japanese comes next.
        (Some("fr-FR, ja;q=0.8, en;q=0.3"), Lang::Ja),
        (Some("fr, de"), Lang::En),
        // q=0 means "not this one"; malformed q-values drop their entry.
        (Some("ja;q=0, en;q=0.1"), Lang::En),
        (Some("ja;q=0"), Lang::En),
        (Some("ja;q=2, en;q=0.5"), Lang::En),
        (Some("ja;q=0.9999, en;q=0.5"), Lang::En),
        (Some("ja;q=abc"), Lang::En),
        (Some("ja ; q = 0.8 , en ; q=0.2"), Lang::Ja),
        (Some("*;q=0.5, ja;q=0.4"), Lang::En),
        (Some("ja;q=1.0"), Lang::Ja),
        (Some("ja;q=1.001, en;q=0.1"), Lang::En),
        // Equal q: the first listed wins.
        (Some("ja;q=0.8, en;q=0.8"), Lang::Ja),
        (Some("jav, en;q=0.1"), Lang::En),
    ];
    for (header, expected) in cases {
        assert_eq!(preferred_language(header), expected, "{header:?}");
    }
    assert_eq!(parse_quality("0.5"), Some(500));
    assert_eq!(parse_quality("0.125"), Some(125));
    assert_eq!(parse_quality("1"), Some(1000));
    assert_eq!(parse_quality("1.000"), Some(1000));
    for bad in ["", ".5", "0.1234", "-0.1", "1.5", "0,5", "q"] {
        assert_eq!(parse_quality(bad), None, "{bad:?}");
    }
}

#[test]
fn both_languages_have_every_string() {
    for strings in [&EN, &JA] {
        let all = [
            strings.title,
            strings.number_label,
            strings.open_button,
            strings.opens_app,
            strings.password_note,
            strings.download_prompt,
            strings.download_link,
            strings.e2ee_note,
            strings.not_found_title,
            strings.not_found_text,
        ];
        assert!(all.iter().all(|s| !s.trim().is_empty()), "{strings:?}");
    }
    assert!(JA.title.contains("会議") && EN.title.contains("meeting"));
}

#[tokio::test]
async fn any_plausible_number_gets_the_same_page_and_headers() {
    let one = get(settings(None), "12345678901", Some("ja")).await;
    let other = get(settings(None), "98765432109", Some("ja")).await;
    assert_eq!(one.status(), StatusCode::OK);
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(one.headers(), other.headers());
    let one = body(one).await;
    let other = body(other).await;
    assert_eq!(
        one.replace("12345678901", "N"),
        other.replace("98765432109", "N")
    );
    assert!(one.contains("conclave://join/meet.example.org:8443/12345678901"));
}

#[tokio::test]
async fn the_page_is_in_the_visitors_language_with_strict_headers() {
    let response = get(settings(None), "12345678901", Some("ja-JP,en;q=0.5")).await;
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        CONTENT_SECURITY_POLICY
    );
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'; style-src 'unsafe-inline'"));
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[header::CONTENT_LANGUAGE], "ja");
    let page = body(response).await;
    assert!(page.contains("<html lang=\"ja\">") && page.contains("Conclave で開く"));
    // Self-contained: nothing to load, nothing to run.
    for external in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!page.contains(external), "{external} in {page}");
    }
    let english = body(get(settings(None), "12345678901", None).await).await;
    assert!(english.contains("<html lang=\"en\">") && english.contains("Open in Conclave"));
    assert!(
        !english.contains("Get Conclave"),
        "no download line without an address"
    );
}

#[tokio::test]
async fn the_download_address_and_server_are_escaped() {
    let hostile = JoinPageSettings {
        public_address: "meet.example.org\"><b>x".into(),
        download_url: Some("https://dl.example/?a=1&b=<i>\"".into()),
    };
    let page = body(get(hostile, "12345678901", None).await).await;
    assert!(page.contains("href=\"https://dl.example/?a=1&amp;b=&lt;i&gt;&quot;\""));
    assert!(page.contains("meet.example.org&quot;&gt;&lt;b&gt;x/12345678901"));
    assert!(!page.contains("<b>") && !page.contains("<i>"));
    assert_eq!(escape("<'&\">"), "&lt;&#39;&amp;&quot;&gt;");
}

#[tokio::test]
async fn a_malformed_number_gets_a_404_page_in_the_same_language() {
    for bad in [
        "12ab5678901",
        "123456789012",
        "<script>alert(1)</script>",
        "1234567890%",
        "",
    ] {
        let response = get(settings(Some("https://dl.example/")), bad, Some("ja")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad:?}");
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let page = body(response).await;
        assert!(page.contains("会議のリンクではありません"), "{page}");
        assert!(!page.contains("conclave://") && !page.contains("<script>alert"));
    }
    let english = get(settings(None), "abc", Some("en")).await;
    assert!(body(english).await.contains("Not a meeting link"));
}
