# Passerelle's container image: a static binary on distroless, non-root, no
# shell. Build: docker build -t passerelle . (or podman build). The
# configuration goes to /etc/passerelle (mount it read-only); the spool and
# keys.dir are volumes. Checked by e2e/deploy_test.go (no container engine
# runs on the test machine, so the test parses this file).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/passerelle ./cmd/passerelle \
 && mkdir -p /out/spool /out/keys

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/passerelle /usr/bin/passerelle
COPY --from=build --chown=65532:65532 /out/spool /var/spool/passerelle
COPY --from=build --chown=65532:65532 /out/keys /var/lib/passerelle/keys
USER 65532:65532
VOLUME ["/var/spool/passerelle", "/var/lib/passerelle/keys"]
# smtp.mx.listen, smtp.submission.listen, metrics.listen
EXPOSE 2525 2587 9025
ENTRYPOINT ["/usr/bin/passerelle"]
CMD ["serve", "-c", "/etc/passerelle/passerelle.toml"]
