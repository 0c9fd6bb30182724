# One image for the controller, the Ray head and Ray workers (docker-compose.yml picks the command).
# CPU torch by default; build with --build-arg TORCH_INDEX=<a CUDA wheel index> for the GPU worker image.
FROM python:3.11-slim
ARG TORCH_INDEX=""
ENV PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY nas_service ./nas_service
COPY workers ./workers
COPY api ./api
COPY migrations ./migrations
RUN if [ -n "$TORCH_INDEX" ]; then pip install --no-cache-dir --index-url "$TORCH_INDEX" torch==2.13.0; \
    else pip install --no-cache-dir torch==2.13.0; fi \
 && pip install --no-cache-dir -c constraints.txt .
EXPOSE 8765
CMD ["nas", "serve", "--host", "0.0.0.0"]
