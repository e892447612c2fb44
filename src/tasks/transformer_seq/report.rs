//! The printed end-of-run report of transformer_seq.

use super::*;

/// The end-of-run summary.
pub(crate) fn print_report(r: &SequenceReport) {
    let units = if r.results.scoring.scaler.is_some() {
        "series units"
    } else {
        "raw units"
    };
    let scope = if r.results.scoring.last_step_only {
        "one prediction per test value"
    } else {
        "every step of every test sequence"
    };
    println!(
        "\n== transformer_seq report: {:?}, {:?} task ({}) ==",
        r.config.arch, r.config.task, r.summary.device
    );
    println!("model             {}", model_summary(&r.config));
    println!("parameters        {}", r.summary.parameters);
    println!("data              {}", r.results.data);
    println!("scored            {scope}, {units}");
    println!(
        "test              MSE {:.4}   RMSE {:.4}   MAE {:.4}",
        r.results.test.mse, r.results.test.rmse, r.results.test.mae
    );
    println!(
        "baseline          MSE {:.4}   RMSE {:.4}   MAE {:.4}   ({})",
        r.results.baseline.mse,
        r.results.baseline.rmse,
        r.results.baseline.mae,
        r.results.scoring.baseline
    );
    println!(
        "test loss         {:.5} (MSE over every step, model units)",
        r.summary.test_loss
    );
    if let Some(line) = r.summary.speed_line("sequences") {
        println!("{line}");
    }
    println!("peak memory       {:.0} MiB", r.summary.peak_rss_mb);
    if let Some(p) = &r.results.attention {
        println!("attention         {}", p.display());
    }
}
