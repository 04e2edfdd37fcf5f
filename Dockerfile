# usagestream's processes (`usagestream worker`, `usagestream api`, `usagestream db upgrade`) in one image.
FROM python:3.11-slim

# PYTHONSAFEPATH: the source tree has a top-level http/ folder that must never shadow the standard library.
ENV PYTHONSAFEPATH=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY usagestream ./usagestream
COPY streams ./streams
COPY materializer ./materializer
COPY http ./http
COPY stack ./stack
COPY publisher ./publisher
RUN pip install . && rm -rf /src

RUN useradd --system --create-home --home-dir /var/lib/usagestream usagestream
USER usagestream
WORKDIR /var/lib/usagestream
ENV USAGESTREAM_STATE_DIR=/var/lib/usagestream

ENTRYPOINT ["usagestream"]
CMD ["worker"]
