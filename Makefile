# The two commands of the README, plus a few conveniences.
#   make run    set up .venv (once), train the tutorial's CNN on MNIST, print the report
#   make test   every test: Rust unit/integration tests and PyTorch parity (real PyTorch),
#               then the short full-run parity (parity-short)
#   make parity every example beside its PyTorch twin: side-by-side table, exits non-zero
#               when a difference exceeds its tolerance (PARITY_ARGS="--epochs 3 ...")
#   make bench  Rust vs PyTorch benchmarks (BENCH_ARGS="--quick" for a fast pass)
#   make bench-use   only the "use your model" part: cold start of --predict and batch-1
#               latency, Rust vs PyTorch (BENCH_ARGS as above)
#   make bench-quantize float32 against int8 weights (--quantize int8), Rust beside PyTorch's
#               quantize_dynamic: file size, accuracy / RMSE / validation loss, batch-1 latency,
#               LM tokens/s (issue 22; BENCH_ARGS="--threads 2 --repeats 5")
#   make bench-peers the same models in candle and burn beside this project (tch): a loss
#               check from the same weights, then steps/s and samples/s (bench/peers/;
#               its own cargo package and lock file, not built by make test or CI)
#   make finetune-experiment   pre-train on digits 0-4, fine-tune on 5-9 (issue 7)
#   make optim-compare         SGD vs SGD+momentum vs Adam learning curves (issue 7)
#   make bundle      dist/tchport-VERSION-x86_64-linux/ and its .tar.gz: the example binaries
#               with the libtorch libraries they load, running without Python or the .venv
#               (BUNDLE_CUDA=1: the CUDA libraries too; issue 22)
#   make bundle-test the bundle, unpacked elsewhere with the .venv hidden, under env -i:
#               same output as the development build (part of make test)
#   make bench-memory  peak RSS of cnn_mnist against the test set's size, with and without
#               src/malloc.rs's allocator setting, beside PyTorch (issue 22)
#   make pretrain-experiment   transformer_lm: pre-train on unlabelled text, fine-tune on 100 /
#               1,000 / all labelled sentences against random initialisation, 3 seeds (issue 20)
.PHONY: setup run test lint bundle bundle-test bench-memory parity parity-short bench bench-use bench-quantize bench-peers finetune-experiment optim-compare pretrain-experiment

setup:
	@scripts/setup.sh

run: setup
	cargo run --release --example cnn_mnist

test: setup
	cargo test --release
	$(MAKE) parity-short
	$(MAKE) bundle-test

parity: setup
	.venv/bin/python parity/side_by_side.py $(PARITY_ARGS)

parity-short: setup
	.venv/bin/python parity/side_by_side.py --short

bench: setup
	.venv/bin/python parity/bench.py $(BENCH_ARGS)

bench-use: setup
	.venv/bin/python parity/bench.py --only use --markdown runs/bench/use.md $(BENCH_ARGS)

bench-quantize: setup
	cargo build --release --examples
	.venv/bin/python parity/bench_quantize.py --markdown runs/bench/quantize.md $(BENCH_ARGS)

bench-peers: setup
	cargo test --release --locked --quiet --manifest-path bench/peers/Cargo.toml
	.venv/bin/python bench/peers/bench_peers.py --markdown runs/bench/peers.md $(BENCH_ARGS)

bundle: setup
	cargo build --release --examples
	scripts/bundle.sh

bundle-test: bundle
	scripts/bundle_test.sh

bench-memory: setup
	cargo build --release --examples
	.venv/bin/python parity/bench_memory.py --markdown runs/bench/memory.md $(BENCH_ARGS)

lint: setup
	cargo fmt --all -- --check
	cargo clippy --release --all-targets -- -D warnings

finetune-experiment: setup
	scripts/finetune_experiment.sh

optim-compare: setup
	scripts/optim_compare.sh

pretrain-experiment: setup
	scripts/pretrain_experiment.sh
