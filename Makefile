# Shortcuts for the scripts the README names.
.PHONY: setup demo test bench lab

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

bench: setup
	.venv/bin/python benchmarks/separation_speed.py
	.venv/bin/python benchmarks/training_throughput.py
	.venv/bin/python benchmarks/evaluation_speed.py

lab: setup
	.venv/bin/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)  # from the project root: notebooks/ and runs/ side by side; as root (a container) too; run records cannot be saved over (jupyter-config/)
