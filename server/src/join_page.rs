//! `GET /join/{number}`: the page an `https://<server>/join/<number>` link opens in a browser.
//!
//! It hands the visitor to the app (`conclave://join/<public address>/<number>`) and says
//! where to get the app (`[client_versions] download_url`, when set). It looks nothing up: the
//! answer depends only on the number's shape and the visitor's language, so a real and a
//! made-up number get the same page (apart from the number itself) and the page cannot be
//! used to find meetings. It never shows a password, title or host.
//!
//! Self-contained HTML: inline CSS, no script, no external resource, served with a strict
//! `Content-Security-Policy`. English, or Japanese when `Accept-Language` prefers it. The
//! server links no Fluent (`docs/architecture.md`), so the two languages' strings live in
//! [`Strings`] below; the type makes both define every string.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

use crate::store::MEETING_NUMBER_DIGITS;

/// What the page is built from besides the request.
#[derive(Debug, Clone)]
pub struct JoinPageSettings {
    /// `host:port` the app connects to (the same as in invitations).
    pub public_address: String,
    /// Where to get the app, if the organisation says.
    pub download_url: Option<String>,
}

/// The `/join/{number}` route.
pub fn routes(settings: JoinPageSettings) -> Router {
    Router::new()
        .route("/join/{number}", get(join_page))
        .with_state(Arc::new(settings))
}

/// Nothing may load or run: styles are inline, there is no script, image or font.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A language the page exists in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::Ja => &JA,
        }
    }

    /// The supported language a language tag (`ja-JP`, `EN`) names, if any.
    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("ja") {
            Some(Lang::Ja)
        } else if primary.eq_ignore_ascii_case("en") || primary == "*" {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// Every string of the page, once per language.
#[derive(Debug)]
pub struct Strings {
    pub title: &'static str,
    pub number_label: &'static str,
    pub open_button: &'static str,
    pub opens_app: &'static str,
    pub password_note: &'static str,
    pub download_prompt: &'static str,
    pub download_link: &'static str,
    pub e2ee_note: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
}

const EN: Strings = Strings {
    title: "Join a Conclave meeting",
    number_label: "Meeting number",
    open_button: "Open in Conclave",
    opens_app: "The button opens the meeting in the Conclave app.",
    password_note: "The host sends you the meeting password separately.",
    download_prompt: "No Conclave app yet?",
    download_link: "Get Conclave",
    e2ee_note: "Conclave meetings are end-to-end encrypted.",
    not_found_title: "Not a meeting link",
    not_found_text: "This address does not hold a valid meeting number. Check the link in your invitation.",
};

const JA: Strings = Strings {
    title: "Conclave 会議に参加",
    number_label: "会議番号",
    open_button: "Conclave で開く",
    opens_app: "ボタンを押すと Conclave アプリで会議が開きます。",
    password_note: "会議のパスワードは主催者から別途お知らせします。",
    download_prompt: "アプリをお持ちでない方は",
    download_link: "こちらから Conclave を入手",
    e2ee_note: "Conclave の会議はエンドツーエンド暗号化されています。",
    not_found_title: "会議のリンクではありません",
    not_found_text: "このアドレスには有効な会議番号が含まれていません。招待状のリンクをご確認ください。",
};

/// The language to answer in: the supported language the visitor ranks highest in
/// `Accept-Language` (by q-value, then order), English when none is.
pub fn preferred_language(accept_language: Option<&str>) -> Lang {
    let Some(header) = accept_language else {
        return Lang::En;
    };
    let mut best: Option<(u16, Lang)> = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let mut quality = Some(1000);
        for parameter in parts {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            if name.trim().eq_ignore_ascii_case("q") {
                quality = parse_quality(value.trim());
            }
        }
        // A malformed q-value drops the entry; q=0 means "not this language".
        let (Some(quality), Some(lang)) = (quality, Lang::from_tag(tag)) else {
            continue;
        };
        if quality > 0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, lang));
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

/// An RFC 9110 q-value (`0`, `0.8`, `1.000`) in thousandths; `None` when malformed.
fn parse_quality(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `number` has a meeting number's shape: digits only, at most
/// [`MEETING_NUMBER_DIGITS`] of them.
fn plausible_number(number: &str) -> bool {
    !number.is_empty()
        && number.len() <= MEETING_NUMBER_DIGITS
        && number.bytes().all(|b| b.is_ascii_digit())
}

const STYLE: &str = "body{margin:0;background:#f4f5f7;color:#1d2330;\
font-family:system-ui,-apple-system,'Segoe UI','Noto Sans','Noto Sans CJK JP',\
'Hiragino Sans','Yu Gothic',sans-serif;line-height:1.6}\
main{max-width:30rem;margin:12vh auto 2rem;padding:2rem 2.25rem;background:#fff;\
border-radius:14px;box-shadow:0 2px 14px rgba(20,30,60,.12)}\
h1{font-size:1.45rem;margin:0 0 1.25rem}\
.label{margin:0;color:#5b6475;font-size:.9rem}\
.number{margin:.1rem 0 1.5rem;font-size:1.9rem;font-weight:600;letter-spacing:.06em;\
font-variant-numeric:tabular-nums}\
.open{display:inline-block;padding:.75rem 1.6rem;border-radius:10px;background:#2457c5;\
color:#fff;font-weight:600;text-decoration:none;font-size:1.05rem}\
.open:hover,.open:focus{background:#1a439c}\
p{margin:.9rem 0 0}.small{color:#5b6475;font-size:.9rem}a{color:#2457c5}\
:lang(ja){word-break:auto-phrase;line-break:strict}";

fn page(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        lang = lang.tag(),
        title = escape(title),
    )
}

/// The page for a plausible meeting number.
pub fn render(lang: Lang, number: &str, settings: &JoinPageSettings) -> String {
    let s = lang.strings();
    let app_link = format!("conclave://join/{}/{number}", settings.public_address);
    let mut body = format!(
        "<h1>{title}</h1>\n<p class=\"label\">{label}</p>\n<p class=\"number\">{number}</p>\n\
         <a class=\"open\" href=\"{href}\">{open}</a>\n<p>{opens}</p>\n\
         <p class=\"small\">{password}</p>\n",
        title = escape(s.title),
        label = escape(s.number_label),
        number = escape(number),
        href = escape(&app_link),
        open = escape(s.open_button),
        opens = escape(s.opens_app),
        password = escape(s.password_note),
    );
    if let Some(url) = &settings.download_url {
        body.push_str(&format!(
            "<p class=\"small\">{prompt} <a href=\"{href}\">{link}</a></p>\n",
            prompt = escape(s.download_prompt),
            href = escape(url),
            link = escape(s.download_link),
        ));
    }
    body.push_str(&format!("<p class=\"small\">{}</p>\n", escape(s.e2ee_note)));
    page(lang, s.title, &body)
}

/// The page for an address that holds no meeting number.
pub fn render_not_found(lang: Lang) -> String {
    let s = lang.strings();
    let body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n",
        escape(s.not_found_title),
        escape(s.not_found_text)
    );
    page(lang, s.not_found_title, &body)
}

/// `GET /join/{number}`.
async fn join_page(
    State(settings): State<Arc<JoinPageSettings>>,
    Path(number): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = preferred_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let (status, body) = if plausible_number(&number) {
        (StatusCode::OK, render(lang, &number, &settings))
    } else {
        (StatusCode::NOT_FOUND, render_not_found(lang))
    };
    let mut response = (status, body).into_response();
    let set = response.headers_mut();
    set.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    set.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    set.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    set.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    set.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    set.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.tag()),
    );
    response
}

#[cfg(test)]
mod tests;
