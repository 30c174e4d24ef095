FROM golang:1.26.3 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app ./cmd/app
USER nobody

FROM debian:12.11-slim
COPY --from=build /out/app /usr/local/bin/app
ENTRYPOINT ["app"]
