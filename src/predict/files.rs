//! Finding the images behind `--predict PATH...` and their labels, with
//! torchvision's `ImageFolder` convention: `root/<class name>/.../x.png` is an
//! image of that class.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// Extensions (lower-case) of the formats this build decodes.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "jpe", "jfif", "bmp", "dib", "gif", "tif", "tiff", "pbm", "pgm", "ppm",
    "pnm",
];

/// Extensions of image formats this build does not decode: such files in a
/// folder are not ignored silently but reported as skipped ("unsupported format").
pub const OTHER_IMAGE_EXTENSIONS: &[&str] = &[
    "webp", "avif", "heic", "heif", "ico", "tga", "qoi", "exr", "hdr", "dds", "jxl", "svg",
];

/// One image file to classify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageFile {
    /// The file, as found (the `--predict` argument joined with the path below it).
    #[serde(serialize_with = "super::classify::lossy_path")]
    pub path: PathBuf,
    /// Class index from the `ImageFolder` sub-folder name, when it names a class.
    pub label: Option<i64>,
    /// Given directly as a `--predict` argument (a failure is then an error,
    /// not a skipped file).
    pub direct: bool,
}

/// What a search of the `--predict` paths found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FoundImages {
    /// Image files in argument order, each folder's files sorted by path
    /// (component by component, so a folder's files come together).
    pub images: Vec<ImageFile>,
    /// Files in the folders that are not images (by extension), not read.
    pub ignored: usize,
    /// First-level sub-folder names that name no class (their images are
    /// unlabelled), sorted, each once.
    pub unmatched_folders: Vec<String>,
}

/// The default class names of a model with `num_classes` outputs: "0", "1"...
pub fn default_class_names(num_classes: i64) -> Vec<String> {
    (0..num_classes).map(|c| c.to_string()).collect()
}

/// Searches each of `paths` (a file, or a folder searched recursively; symbolic
/// links to folders are not followed) for image files, labelling an image in
/// `folder/<name>/...` with the index of `<name>` in `class_names` (exact match).
///
/// # Errors
/// A path that does not exist; an unreadable folder; a folder holding no image
/// file (the message names it and the number of other files).
pub fn find_images(paths: &[PathBuf], class_names: &[String]) -> Result<FoundImages> {
    let mut found = FoundImages::default();
    for path in paths {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("--predict {}: no such file or folder", path.display()))?;
        if meta.is_dir() {
            search_folder(path, class_names, &mut found)?;
        } else {
            found.images.push(ImageFile {
                path: path.clone(),
                label: None,
                direct: true,
            });
        }
    }
    found.unmatched_folders.sort();
    found.unmatched_folders.dedup();
    Ok(found)
}

fn search_folder(root: &Path, class_names: &[String], found: &mut FoundImages) -> Result<()> {
    let mut files = Vec::new();
    let mut ignored = 0;
    walk(root, &mut files, &mut ignored)?;
    if files.is_empty() {
        bail!(
            "--predict {}: the folder holds no image file ({ignored} other file(s); images \
             are recognised by the extensions {})",
            root.display(),
            IMAGE_EXTENSIONS.join(", ")
        );
    }
    files.sort();
    found.ignored += ignored;
    for path in files {
        let label = match class_folder(root, &path) {
            None => None,
            Some(name) => {
                let index = class_names.iter().position(|c| *c == name);
                if index.is_none() {
                    found.unmatched_folders.push(name);
                }
                index.map(|i| i as i64)
            }
        };
        found.images.push(ImageFile {
            path,
            label,
            direct: false,
        });
    }
    Ok(())
}

/// The first-level sub-folder of `root` that holds `path`, if `path` is not
/// directly in `root`.
fn class_folder(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = rel.components();
    let first = parts.next()?;
    parts.next()?; // a file directly in root has one component
    Some(first.as_os_str().to_string_lossy().into_owned())
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, ignored: &mut usize) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read folder {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read folder {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_dir() {
            walk(&path, files, ignored)?;
        } else if kind.is_symlink() && path.is_dir() {
            continue;
        } else if is_image_name(&path) {
            files.push(path);
        } else {
            *ignored += 1;
        }
    }
    Ok(())
}

/// Whether `path`'s extension (any case) is one of [`IMAGE_EXTENSIONS`] or
/// [`OTHER_IMAGE_EXTENSIONS`].
pub(crate) fn is_image_name(path: &Path) -> bool {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return false;
    };
    let ext = ext.to_ascii_lowercase();
    IMAGE_EXTENSIONS.contains(&ext.as_str()) || OTHER_IMAGE_EXTENSIONS.contains(&ext.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, b"x").expect("write");
    }

    #[test]
    fn image_folder_labels_come_from_the_first_sub_folder() {
        let root = std::env::temp_dir().join(format!("tchport-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for f in [
            "3/b.png",
            "3/a.PNG",
            "3/deep/c.jpg",
            "7/d.bmp",
            "x/e.gif",
            "top.tif",
        ] {
            touch(&root.join(f));
        }
        touch(&root.join("3/readme.txt"));
        touch(&root.join("7/photo.webp"));
        let names = default_class_names(10);
        let found = find_images(std::slice::from_ref(&root), &names).expect("found");
        let got: Vec<(String, Option<i64>)> = found
            .images
            .iter()
            .map(|f| {
                let rel = f.path.strip_prefix(&root).expect("under root");
                (rel.to_string_lossy().into_owned(), f.label)
            })
            .collect();
        let want = [
            ("3/a.PNG", Some(3)),
            ("3/b.png", Some(3)),
            ("3/deep/c.jpg", Some(3)),
            ("7/d.bmp", Some(7)),
            ("7/photo.webp", Some(7)),
            ("top.tif", None),
            ("x/e.gif", None),
        ];
        let want: Vec<(String, Option<i64>)> =
            want.iter().map(|(p, l)| (p.to_string(), *l)).collect();
        assert_eq!(got, want);
        assert_eq!(found.ignored, 1);
        assert_eq!(found.unmatched_folders, ["x"]);
        assert!(found.images.iter().all(|f| !f.direct));

        let empty = root.join("empty");
        std::fs::create_dir_all(&empty).expect("mkdir");
        touch(&empty.join("notes.txt"));
        let err = format!("{:#}", find_images(&[empty], &names).unwrap_err());
        assert!(
            err.contains("empty: the folder holds no image file (1 other file"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            find_images(&[root.join("nope")], &names).unwrap_err()
        );
        assert!(err.contains("nope: no such file or folder"), "{err}");
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
