//! Labelled sentences for `transformer_lm --task classify`: the movie-review
//! snippets fetched by `scripts/fetch_text.sh` (`id \t mean rating \t sentence`,
//! Hutto & Gilbert 2014, ratings in −4…+4 of Pang & Lee's sentences) with
//! binary labels by the sign of the rating, and their fixed, seeded split;
//! and a user's labelled CSV (`--csv F --text-column C --label-column L`).

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::split::stratified_split;

/// Sentences with class ids, and the names of the classes.
#[derive(Debug, Clone, Default)]
pub struct LabelledText {
    /// The sentences.
    pub texts: Vec<String>,
    /// Class id per sentence.
    pub labels: Vec<i64>,
    /// Class names, by id.
    pub class_names: Vec<String>,
}

impl LabelledText {
    /// The sentences at `idx`, in that order.
    pub fn subset(&self, idx: &[i64]) -> Self {
        Self {
            texts: idx
                .iter()
                .map(|&i| self.texts[i as usize].clone())
                .collect(),
            labels: idx.iter().map(|&i| self.labels[i as usize]).collect(),
            class_names: self.class_names.clone(),
        }
    }

    /// Sentences held.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// The rated sentences of `path` with label 1 ("positive") for a mean rating
/// above 0 and 0 ("negative") below; sentences rated exactly 0 have no side
/// and are left out (their count is returned, 37 in the shipped file).
/// Errors name the file and line of a row that is not `id \t rating \t text`.
pub(crate) fn read_rated_sentences(path: &Path) -> Result<(LabelledText, usize)> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (scripts/setup.sh fetches it)",
            path.display()
        )
    })?;
    let mut out = LabelledText {
        class_names: vec!["negative".into(), "positive".into()],
        ..Default::default()
    };
    let mut neutral = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let (_, rating, sentence) = (fields.next(), fields.next(), fields.next());
        let (Some(rating), Some(sentence)) = (rating, sentence) else {
            bail!(
                "{} line {}: expected id, rating and sentence separated by tabs",
                path.display(),
                n + 1
            );
        };
        let rating: f64 = rating.trim().parse().with_context(|| {
            format!(
                "{} line {}: the rating {rating:?} is not a number",
                path.display(),
                n + 1
            )
        })?;
        if rating == 0.0 {
            neutral += 1;
            continue;
        }
        out.texts.push(sentence.trim().to_string());
        out.labels.push(i64::from(rating > 0.0));
    }
    if out.is_empty() {
        bail!("{} holds no rated sentence", path.display());
    }
    Ok((out, neutral))
}

/// Every sentence of a rated-sentence file `path` (`id \t rating \t
/// sentence`, the format of [`read_rated_sentences`]) as unlabelled text: the
/// third field of each non-blank line, trimmed; the id and the rating are not
/// read. UTF-8 (a `.gz` name is gunzipped; `text::read_text`).
///
/// # Errors
/// An unreadable or non-UTF-8 file; a line without two tabs (its number);
/// a file without sentences.
pub(crate) fn read_sentences(path: &Path) -> Result<Vec<String>> {
    let text = crate::data::text::read_text(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some(sentence) = line.splitn(3, '\t').nth(2) else {
            bail!(
                "{} line {}: expected id, rating and sentence separated by tabs",
                path.display(),
                n + 1
            );
        };
        out.push(sentence.trim().to_string());
    }
    if out.is_empty() {
        bail!("{} holds no sentence", path.display());
    }
    Ok(out)
}

/// Labelled texts in class folders, as torchvision's `ImageFolder` reads
/// images: every sub-folder of `root` is a class (named after it, classes in
/// sorted name order, ids from 0) and every `.txt` / `.txt.gz` file in it is
/// one text (`text::read_text`: UTF-8, a byte-order mark dropped, CRLF read
/// as LF; whitespace at both ends trimmed). Empty files are left out and
/// counted in the returned note; other files are not read (counted too).
///
/// # Errors
/// `root` is not a folder; fewer than two class folders; a class folder
/// without a text; a file that is not UTF-8 (its name and byte offset).
pub(crate) fn read_class_folders(root: &Path) -> Result<(LabelledText, String)> {
    let list = |dir: &Path| -> Result<Vec<std::path::PathBuf>> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    if !root.is_dir() {
        bail!("--folders {}: not a folder", root.display());
    }
    let classes: Vec<_> = list(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.len() < 2 {
        bail!(
            "--folders {}: {} class folder(s); a classifier needs at least two (one sub-folder \
             of .txt files per class)",
            root.display(),
            classes.len()
        );
    }
    let mut out = LabelledText::default();
    let (mut empty, mut other) = (0, 0);
    for (id, dir) in classes.iter().enumerate() {
        let name = dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let before = out.len();
        for file in list(dir)? {
            let fname = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !(file.is_file() && (fname.ends_with(".txt") || fname.ends_with(".txt.gz"))) {
                other += 1;
                continue;
            }
            let text = crate::data::text::read_text(&file)?;
            if text.trim().is_empty() {
                empty += 1;
                continue;
            }
            out.texts.push(text.trim().to_string());
            out.labels.push(id as i64);
        }
        if out.len() == before {
            bail!(
                "--folders: the class folder {} holds no non-empty .txt file",
                dir.display()
            );
        }
        out.class_names.push(name);
    }
    let note = format!(
        "{}: {} texts in {} class folders ({}); empty files left out: {empty}, files not .txt \
         not read: {other}",
        root.display(),
        out.len(),
        out.class_names.len(),
        out.class_names
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i} = {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok((out, note))
}

/// The labelled sentences of a user's CSV `path`: the text in column
/// `text_column`, the class in `label_column` (each a header name, exact or
/// else ignoring case, or a 1-based index). The file is read as the series
/// CSVs are: gzip, a byte-order mark, UTF-16 or Windows-1252, CRLF, and the
/// delimiter detected among `,` `;` tab `|`; quoted cells may hold the
/// delimiter and line breaks. The classes are the distinct labels in sorted
/// order (numerically when every label is a number), ids from 0. Rows whose
/// text is empty are left out and counted in the returned note.
///
/// # Errors
/// An unreadable file; a column that is not in the header (the header is
/// listed); a row without a label or with too few fields (its line); no
/// sentence at all; a single class.
pub(crate) fn read_labelled_csv(
    path: &Path,
    text_column: &str,
    label_column: &str,
) -> Result<(LabelledText, String)> {
    let source = path.display().to_string();
    let bytes = super::csv::read_file(path)?;
    let data = super::csv::decode(&bytes, &source)?;
    let delimiter = super::csv::detect_delimiter(&data, false);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(&data[..]);
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{source}: cannot read the header line"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let (tc, lc) = (
        column(&header, text_column, "--text-column", &source)?,
        column(&header, label_column, "--label-column", &source)?,
    );
    let (mut texts, mut raw_labels, mut empty) = (Vec::new(), Vec::new(), 0usize);
    for record in reader.records() {
        let record = record.with_context(|| format!("{source}: not a CSV record"))?;
        let line = record.position().map_or(0, csv::Position::line);
        let (Some(text), Some(label)) = (record.get(tc), record.get(lc)) else {
            bail!(
                "{source} line {line}: {} fields, too few for columns {} and {}",
                record.len(),
                tc + 1,
                lc + 1
            );
        };
        let label = label.trim();
        if label.is_empty() {
            bail!("{source} line {line}: the label ({}) is empty", header[lc]);
        }
        if text.trim().is_empty() {
            empty += 1;
            continue;
        }
        texts.push(text.trim().to_string());
        raw_labels.push(label.to_string());
    }
    if texts.is_empty() {
        bail!("{source}: the text column {} holds no sentence", header[tc]);
    }
    let class_names = sorted_classes(&raw_labels);
    if class_names.len() < 2 {
        bail!(
            "{source}: every row has the label {:?}: a classifier needs at least two classes",
            class_names[0]
        );
    }
    let labels = raw_labels
        .iter()
        .map(|l| class_names.iter().position(|c| c == l).unwrap_or(0) as i64)
        .collect();
    let note = format!(
        "{source}: {} sentences (text {:?}, label {:?}; delimiter {:?}){}; classes {}",
        texts.len(),
        header[tc],
        header[lc],
        delimiter as char,
        if empty > 0 {
            format!(", rows with empty text left out: {empty}")
        } else {
            String::new()
        },
        class_names
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i} = {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = LabelledText {
        texts,
        labels,
        class_names,
    };
    Ok((out, note))
}

/// The column `want` names: a header name (exact, else ignoring case when
/// that is unique) or a 1-based index.
fn column(header: &[String], want: &str, flag: &str, source: &str) -> Result<usize> {
    if let Some(i) = header.iter().position(|h| h == want) {
        return Ok(i);
    }
    let folded: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].eq_ignore_ascii_case(want))
        .collect();
    if let [i] = folded[..] {
        return Ok(i);
    }
    if let Ok(n) = want.parse::<usize>() {
        if (1..=header.len()).contains(&n) {
            return Ok(n - 1);
        }
    }
    bail!("{flag} {want:?} is not a column of {source}; its header: {header:?}")
}

/// The distinct labels, sorted numerically when all are numbers, else as text.
fn sorted_classes(labels: &[String]) -> Vec<String> {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort();
    classes.dedup();
    if classes.iter().all(|c| c.parse::<f64>().is_ok()) {
        classes.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    classes
}

/// The fixed split: a stratified 10 % test, then a stratified 10 % of the
/// rest for validation, both seeded by `seed` (`split::stratified_split`).
pub(crate) fn train_val_test(data: &LabelledText, seed: u64) -> Result<[LabelledText; 3]> {
    let (rest, test) = stratified_split(&data.labels, 0.1, seed)?;
    let rest = data.subset(&rest);
    let (train, val) = stratified_split(&rest.labels, 1.0 / 9.0, seed ^ 1)?;
    Ok([rest.subset(&train), rest.subset(&val), data.subset(&test)])
}
