//! Every icon size and format, rendered from the one drawing `assets/icon/conclave.svg`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use resvg::{tiny_skia, usvg};

/// The drawing every icon comes from.
pub const SOURCE: &str = "assets/icon/conclave.svg";
/// The window icon the app embeds (checked in; a test keeps it equal to a fresh render).
pub const WINDOW_ICON: &str = "assets/icon/conclave-64.png";
/// Square sizes of the PNG set (freedesktop `hicolor` sizes, and the `.ico`/`.icns` inputs).
pub const PNG_SIZES: &[u32] = &[16, 22, 24, 32, 48, 64, 128, 256, 512, 1024];
/// Sizes in the Windows `.ico` (256 is stored as PNG inside it).
pub const ICO_SIZES: &[u32] = &[16, 24, 32, 48, 64, 128, 256];
/// Sizes in the macOS `.icns` (each is a type the format knows).
pub const ICNS_SIZES: &[u32] = &[16, 32, 64, 128, 256, 512, 1024];

/// The parsed drawing.
pub fn load(root: &Path) -> Result<usvg::Tree> {
    let path = root.join(SOURCE);
    let data = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    usvg::Tree::from_data(&data, &usvg::Options::default())
        .with_context(|| format!("{} is not a valid SVG", path.display()))
}

/// The drawing rendered at `size`×`size` pixels, premultiplied RGBA.
pub fn render(tree: &usvg::Tree, size: u32) -> Result<tiny_skia::Pixmap> {
    let Some(mut pixmap) = tiny_skia::Pixmap::new(size, size) else {
        bail!("cannot make a {size}×{size} canvas");
    };
    let scale = size as f32 / tree.size().width().max(tree.size().height());
    resvg::render(
        tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    Ok(pixmap)
}

/// The drawing at `size` as PNG bytes.
pub fn png(tree: &usvg::Tree, size: u32) -> Result<Vec<u8>> {
    render(tree, size)?
        .encode_png()
        .with_context(|| format!("cannot encode the {size} px icon as PNG"))
}

/// Straight (not premultiplied) RGBA, as `.ico` and `.icns` store it.
fn straight_rgba(pixmap: &tiny_skia::Pixmap) -> Vec<u8> {
    pixmap
        .pixels()
        .iter()
        .flat_map(|pixel| {
            let color = pixel.demultiply();
            [color.red(), color.green(), color.blue(), color.alpha()]
        })
        .collect()
}

/// Writes `conclave-<size>.png` for every size, `conclave.ico` and `conclave.icns` into `out`;
/// returns the files written.
pub fn write_all(root: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let tree = load(root)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    for &size in PNG_SIZES {
        let path = out.join(format!("conclave-{size}.png"));
        std::fs::write(&path, png(&tree, size)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }

    let mut ico = ico::IconDir::new(ico::ResourceType::Icon);
    for &size in ICO_SIZES {
        let image =
            ico::IconImage::from_rgba_data(size, size, straight_rgba(&render(&tree, size)?));
        ico.add_entry(ico::IconDirEntry::encode(&image).context("cannot encode an .ico entry")?);
    }
    let path = out.join("conclave.ico");
    let file =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    ico.write(file).context("cannot write the .ico")?;
    written.push(path);

    let mut icns = icns::IconFamily::new();
    for &size in ICNS_SIZES {
        let image = icns::Image::from_data(
            icns::PixelFormat::RGBA,
            size,
            size,
            straight_rgba(&render(&tree, size)?),
        )
        .with_context(|| format!("cannot make the {size} px .icns image"))?;
        icns.add_icon(&image)
            .with_context(|| format!("the .icns format has no {size} px icon"))?;
    }
    let path = out.join("conclave.icns");
    let file =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    icns.write(std::io::BufWriter::new(file))
        .context("cannot write the .icns")?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// The app embeds `WINDOW_ICON`; it must be what the drawing gives today
    /// (`cargo xtask icons` rewrites it).
    #[test]
    fn the_checked_in_window_icon_is_rendered_from_the_drawing() {
        let tree = load(&root()).unwrap();
        let fresh = png(&tree, 64).unwrap();
        let kept = std::fs::read(root().join(WINDOW_ICON)).unwrap();
        assert!(
            fresh == kept,
            "{WINDOW_ICON} is stale: run `cargo xtask icons`"
        );
    }

    #[test]
    fn every_format_holds_every_size() {
        let out = std::env::temp_dir().join(format!("conclave-icons-{}", std::process::id()));
        let written = write_all(&root(), &out).unwrap();
        assert_eq!(written.len(), PNG_SIZES.len() + 2);

        let ico =
            ico::IconDir::read(std::fs::File::open(out.join("conclave.ico")).unwrap()).unwrap();
        let mut ico_sizes: Vec<u32> = ico.entries().iter().map(|e| e.width()).collect();
        ico_sizes.sort_unstable();
        assert_eq!(ico_sizes, ICO_SIZES);

        let icns = icns::IconFamily::read(std::fs::File::open(out.join("conclave.icns")).unwrap())
            .unwrap();
        let mut icns_sizes: Vec<u32> = icns
            .available_icons()
            .iter()
            .map(|kind| kind.pixel_width())
            .collect();
        icns_sizes.sort_unstable();
        icns_sizes.dedup();
        assert_eq!(icns_sizes, ICNS_SIZES);

        // The corners are transparent (a rounded square) and the middle is drawn.
        let pixmap = render(&load(&root()).unwrap(), 64).unwrap();
        assert_eq!(pixmap.pixel(0, 0).unwrap().alpha(), 0);
        assert_eq!(pixmap.pixel(32, 32).unwrap().alpha(), 255);
        std::fs::remove_dir_all(out).unwrap();
    }

    #[test]
    fn a_broken_drawing_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("conclave-bad-icon-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets/icon")).unwrap();
        std::fs::write(dir.join(SOURCE), "<svg").unwrap();
        let error = load(&dir).err().unwrap();
        assert!(error.to_string().contains("not a valid SVG"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
