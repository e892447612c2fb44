//! The printed end-of-run report of rnn_series.

use super::*;

/// The end-of-run summary: the model against both baselines, speed, forecast.
pub(crate) fn print_report(r: &SeriesReport) {
    let (s, t, c) = (&r.summary, &r.results, &r.config);
    println!("\n== rnn_series report ({}) ==", s.device);
    println!(
        "series            {} ({} values; windows {} train / {} val / {} test)",
        t.data.series, t.data.points, t.data.windows[0], t.data.windows[1], t.data.windows[2]
    );
    if !t.data.reading.is_empty() {
        println!("read              {}", t.data.reading);
    }
    if !t.data.time.is_empty() {
        println!("time axis         {}", t.data.time);
    }
    println!(
        "model             {} cell, hidden {}, {} layer(s), {} parameters; window {}, horizon {}",
        c.model.cell.name(),
        c.model.hidden,
        c.model.layers,
        s.parameters,
        c.window,
        c.horizon
    );
    println!("\ntest part, in the series' units:");
    println!("  {:<22} {:>12} {:>12} {:>12}", "", "MSE", "RMSE", "MAE");
    for (name, sc) in [
        (format!("{} model", c.model.cell.name()), &t.test),
        ("persistence (last)".to_string(), &t.persistence),
        ("training mean".to_string(), &t.train_mean),
    ] {
        println!(
            "  {name:<22} {:>12.4} {:>12.4} {:>12.4}",
            sc.mse, sc.rmse, sc.mae
        );
    }
    println!("\n{}", t.verdict);
    println!(
        "test loss (scaled MSE, the tutorial's \"Test Loss\")  {:.6}",
        s.test_loss
    );
    if let Some(line) = s.speed_line("samples") {
        println!("{line}");
    }
    if !t.forecast.is_empty() {
        let shown: Vec<String> = t.forecast.iter().map(|v| format!("{v:.3}")).collect();
        println!(
            "forecast, next {} values: {}",
            t.forecast.len(),
            shown.join(", ")
        );
        if let Some(times) = &t.forecast_times {
            println!("forecast times: {}", times.join(", "));
        }
    }
}
