# One image for the controller, the Ray head and Ray workers (docker-compose.yml picks the command).
#
# CPU by default: torch comes from PyTorch's CPU wheel index (PyPI's Linux torch wheel pulls several GB of CUDA
# libraries), pinned to constraints.txt, and the build fails if a CUDA torch or any nvidia-* wheel got in anyway.
# GPU worker image: --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 --build-arg TORCH_VARIANT=cuda
# on a CUDA base (the NVIDIA container toolkit provides the driver).
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VARIANT=cpu
ENV PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml setup.py constraints.txt README.md alembic.ini ./
COPY nas_service ./nas_service
COPY workers ./workers
COPY api ./api
COPY migrations ./migrations
# torch first, from the chosen index and at the pinned version; then the package (a wheel: its migrations travel
# inside it), with the same constraints so nothing can replace that torch.
RUN pip install --no-cache-dir --index-url "$TORCH_INDEX" -c constraints.txt torch \
 && pip install --no-cache-dir -c constraints.txt . \
 && python -c "import sys, torch; cuda = torch.version.cuda is not None; \
want = '$TORCH_VARIANT' == 'cuda'; \
sys.exit(0 if cuda == want else f'torch {torch.__version__} is a {\"CUDA\" if cuda else \"CPU\"} build; wanted $TORCH_VARIANT')" \
 && if [ "$TORCH_VARIANT" = cpu ] && pip list 2>/dev/null | grep -qi '^nvidia-'; then \
      echo "nvidia-* wheels in a CPU image" >&2; exit 1; fi
EXPOSE 8765
CMD ["nas", "serve", "--host", "0.0.0.0"]
