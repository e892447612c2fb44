//! Labelled sentences for `transformer_lm --task classify`: the movie-review
//! snippets fetched by `scripts/fetch_text.sh` (`id \t mean rating \t sentence`,
//! Hutto & Gilbert 2014, ratings in −4…+4 of Pang & Lee's sentences) with
//! binary labels by the sign of the rating, and their fixed, seeded split.

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

/// The fixed split: a stratified 10 % test, then a stratified 10 % of the
/// rest for validation, both seeded by `seed` (`split::stratified_split`).
pub(crate) fn train_val_test(data: &LabelledText, seed: u64) -> Result<[LabelledText; 3]> {
    let (rest, test) = stratified_split(&data.labels, 0.1, seed)?;
    let rest = data.subset(&rest);
    let (train, val) = stratified_split(&rest.labels, 1.0 / 9.0, seed ^ 1)?;
    Ok([rest.subset(&train), rest.subset(&val), data.subset(&test)])
}
