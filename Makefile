# The two commands of the README, plus a few conveniences.
#   make run    set up .venv (once), train the tutorial's CNN on MNIST, print the report
#   make test   every test: Rust unit/integration tests and PyTorch parity (real PyTorch)
.PHONY: setup run test lint

setup:
	@scripts/setup.sh

run: setup
	cargo run --release --example cnn_mnist

test: setup
	cargo test --release

lint: setup
	cargo fmt --all -- --check
	cargo clippy --release --all-targets -- -D warnings
