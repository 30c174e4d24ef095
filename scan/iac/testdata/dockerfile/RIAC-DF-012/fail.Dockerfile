FROM alpine:3.22 AS build
RUN echo build

FROM alpine:3.22
USER 1000
CMD ["sleep", "infinity"]
