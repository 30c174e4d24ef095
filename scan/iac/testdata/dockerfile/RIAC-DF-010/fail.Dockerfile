FROM ubuntu:24.04
USER 1000
RUN sudo apt-get update
