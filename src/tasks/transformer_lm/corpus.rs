//! The unlabelled text of `--task lm`, in order: the `--text` files, the
//! sentences of the `--text-sentences` files (one per line, ratings never
//! read), then with `--text-train-split` the training split of the labelled
//! sentences (`--sentences` or `--csv`, split by `--data-seed` exactly as
//! `--task classify` splits them). With `--text-train-split` no line of the
//! whole text equals a validation or test sentence of that split: the
//! pre-training of `make pretrain-experiment` never reads a test sentence.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Result};

use super::config::Config;
use super::finetune::labelled_sentences;
use crate::data::labelled_text::{read_sentences, train_val_test};
use crate::data::text::{text_files, Corpus};

/// Reads the text of `cfg.data` (module docs); returns it with one line per
/// source saying what was read.
///
/// # Errors
/// Those of the readers (the file and line), and no text at all.
pub(crate) fn read(cfg: &Config) -> Result<(Corpus, Vec<String>)> {
    let paths = cfg.data.paths();
    let mut corpus = if paths.is_empty() {
        Corpus {
            text: String::new(),
            files: Vec::new(),
        }
    } else {
        Corpus::read(&paths)?
    };
    let mut notes = Vec::new();
    for arg in &cfg.data.text_sentences {
        for file in text_files(arg)? {
            let sentences = read_sentences(&file)?;
            notes.push(format!(
                "{}: {} sentences as unlabelled text (ratings not read)",
                file.display(),
                sentences.len()
            ));
            push_lines(&mut corpus, &sentences, file);
        }
    }
    if cfg.data.text_train_split {
        notes.push(add_train_split(cfg, &mut corpus)?);
    }
    if corpus.text.chars().count() < 2 {
        bail!("no text to train on: give --text, --text-sentences or --text-train-split");
    }
    Ok((corpus, notes))
}

/// Appends the training split's sentences and removes every line equal to a
/// validation or test sentence; returns the line that says so.
fn add_train_split(cfg: &Config, corpus: &mut Corpus) -> Result<String> {
    let c = &cfg.classify;
    let (all, source) = labelled_sentences(c)?;
    let [train, val, test] = train_val_test(&all, c.data_seed)?;
    let file = c
        .csv
        .clone()
        .or_else(|| c.folders.clone())
        .unwrap_or_else(|| c.sentences.clone());
    push_lines(corpus, &train.texts, file.clone());
    let held_out: HashSet<&str> = val
        .texts
        .iter()
        .chain(&test.texts)
        .map(|s| s.trim())
        .collect();
    let mut dropped = 0;
    let mut kept = String::with_capacity(corpus.text.len());
    for line in corpus.text.split_inclusive('\n') {
        if held_out.contains(line.trim()) {
            dropped += 1;
        } else {
            kept.push_str(line);
        }
    }
    corpus.text = kept;
    Ok(format!(
        "{source}: its {} training sentences (split seed {}) as unlabelled text, labels not read; \
         its {} validation and {} test sentences never: {dropped} line(s) of the text equal to one \
         of them left out",
        train.len(),
        c.data_seed,
        val.len(),
        test.len(),
    ))
}

/// Appends `lines`, one per line, and records the file they came from.
fn push_lines(corpus: &mut Corpus, lines: &[String], file: PathBuf) {
    for l in lines {
        corpus.text.push_str(l);
        corpus.text.push('\n');
    }
    corpus.files.push(file);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::data::labelled_text::read_rated_sentences;

    fn cfg(sentences: &Path, others: &[PathBuf]) -> Config {
        let mut cfg = Config::default();
        cfg.data.text_sentences = others.to_vec();
        cfg.data.text_train_split = true;
        cfg.classify.sentences = sentences.to_path_buf();
        cfg
    }

    /// The split's test and validation sentences, read independently of
    /// [`read`]'s own reading.
    fn held_out(sentences: &Path, seed: u64) -> (Vec<String>, Vec<String>) {
        let (all, _) = read_rated_sentences(sentences).unwrap();
        let [train, val, test] = train_val_test(&all, seed).unwrap();
        (train.texts, [val.texts, test.texts].concat())
    }

    #[test]
    fn a_held_out_sentence_in_another_file_is_left_out() {
        let dir = std::env::temp_dir().join(format!("tchport-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rated = dir.join("rated.txt");
        let rows: String = (0..40)
            .map(|i| format!("{i}\t{}\tsentence number {i}\r\n", i % 2 * 2 - 1))
            .collect();
        std::fs::write(&rated, rows).unwrap();
        let (train, held) = held_out(&rated, 3);
        // Another file repeats a held-out sentence and brings one of its own.
        let other = dir.join("other.txt");
        std::fs::write(&other, format!("a\t0.5\t{}\nb\t-1\tonly here\n", held[0])).unwrap();
        let mut c = cfg(&rated, &[other]);
        c.classify.data_seed = 3;
        let (corpus, notes) = read(&c).unwrap();
        let lines: HashSet<&str> = corpus.text.lines().collect();
        assert!(held.iter().all(|s| !lines.contains(s.as_str())));
        assert!(train.iter().all(|s| lines.contains(s.as_str())));
        assert!(lines.contains("only here"));
        assert!(!corpus.text.contains("0.5") && !corpus.text.contains('\t'));
        assert!(notes[1].contains("1 line(s)"), "{notes:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The pre-training text of `make pretrain-experiment`, built from the
    /// files scripts/setup.sh fetches: no test or validation sentence of the
    /// movie reviews' split is a line of it, every training sentence is.
    #[test]
    fn the_experiment_pretraining_text_holds_no_test_sentence() {
        let reviews = Path::new("data/text/movie_reviews.txt");
        assert!(
            reviews.exists(),
            "run scripts/setup.sh first: it fetches data/text/"
        );
        let c = cfg(reviews, &[PathBuf::from("data/text/vader")]);
        let (corpus, notes) = read(&c).unwrap();
        assert_eq!(corpus.files.len(), 4, "{notes:?}");
        let lines: HashSet<&str> = corpus.text.lines().collect();
        let (train, held) = held_out(reviews, 0);
        assert_eq!(held.len(), 1057 + 1057, "{notes:?}");
        let leaked: Vec<&String> = held.iter().filter(|s| lines.contains(s.as_str())).collect();
        assert!(leaked.is_empty(), "test sentences in the text: {leaked:?}");
        let missing = train.iter().filter(|s| !lines.contains(s.as_str())).count();
        assert!(missing < 10, "{missing} training sentences missing");
        assert!(corpus.text.len() > 2_000_000, "{}", corpus.text.len());
    }
}
