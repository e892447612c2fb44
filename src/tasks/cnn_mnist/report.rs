//! The printed end-of-run report of cnn_mnist.

use super::*;
use crate::data::mnist::{self};
use crate::metrics::ConfusionMatrix;

/// The end-of-run summary: accuracy, macro scores, confusion matrix, speed.
pub(crate) fn print_report(r: &MnistReport) {
    let (s, t) = (&r.summary, &r.results);
    println!("\n== cnn_mnist report ({}) ==", s.device);
    println!(
        "test accuracy     {:.2}%  ({} images)",
        100.0 * t.test.accuracy,
        t.test.macro_avg.support
    );
    println!(
        "macro precision   {:.4}   recall {:.4}   F1 {:.4}",
        t.test.macro_avg.precision, t.test.macro_avg.recall, t.test.macro_avg.f1
    );
    println!("test loss         {:.4}", s.test_loss);
    if let Some(acc) = t.val_accuracy {
        println!(
            "val accuracy      {:.2}%  ({} images{})",
            100.0 * acc,
            t.val_images,
            s.best_epoch
                .map_or(String::new(), |e| format!(", weights of epoch {e}"))
        );
    }
    if let Some(line) = s.speed_line("samples") {
        println!("{line}");
    }
    let noun = mnist::class_noun(&t.class_names);
    println!("\nconfusion matrix (rows: true {noun}, columns: predicted)\n");
    if !mnist::names_are_digits(&t.class_names) {
        for (c, name) in t.class_names.iter().enumerate() {
            println!("  {c:>2} = {name}");
        }
        println!();
    }
    print!(
        "{}",
        ConfusionMatrix {
            counts: t.test.confusion.clone()
        }
    );
    println!(
        "\nper {noun}:  {:>14}  precision  recall     F1  support",
        noun
    );
    for (c, s) in t.test.per_class.iter().enumerate() {
        let name = t.class_names.get(c).map_or("?", String::as_str);
        println!(
            "          {name:>20}  {:>9.4}  {:>6.4}  {:>5.4}  {:>7}",
            s.precision, s.recall, s.f1, s.support
        );
    }
}
