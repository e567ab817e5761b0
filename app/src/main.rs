//! `conclave`: the desktop app.

mod i18n;

fn main() {
    println!("{}", fl!("app-title"));
}
