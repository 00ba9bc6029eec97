# syntax=docker/dockerfile:1
# One binary, two images: the CPU image (default) and the CUDA image for GPU workers.
#   docker build -t unlearnservice:cpu .
#   docker build -t unlearnservice:cuda --build-arg TORCH_BACKEND=cuda .
# The CUDA build references TorchSharp-cuda-linux, which bundles the CUDA libraries libtorch needs; the
# host provides only the NVIDIA driver (NVIDIA Container Toolkit).
ARG TORCH_BACKEND=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TORCH_BACKEND
WORKDIR /src
# Restore first so that the large libtorch packages stay in a cached layer while code changes.
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props UnlearnService.sln ./
COPY build/ build/
COPY src/UnlearnService/UnlearnService.csproj src/UnlearnService/
COPY src/UnlearnService.Engine/UnlearnService.Engine.csproj src/UnlearnService.Engine/
COPY src/UnlearnService.Cli/UnlearnService.Cli.csproj src/UnlearnService.Cli/
RUN dotnet restore src/UnlearnService/UnlearnService.csproj -p:TorchBackend=${TORCH_BACKEND} \
 && dotnet restore src/UnlearnService.Cli/UnlearnService.Cli.csproj -p:TorchBackend=${TORCH_BACKEND}
COPY src/ src/
RUN dotnet publish src/UnlearnService/UnlearnService.csproj -c Release --no-restore -p:TorchBackend=${TORCH_BACKEND} -o /app/service \
 && dotnet publish src/UnlearnService.Cli/UnlearnService.Cli.csproj -c Release --no-restore -p:TorchBackend=${TORCH_BACKEND} -o /app/cli

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# libgomp must not spin (it reads this when libtorch loads); the GPU variables matter only on GPU nodes.
ENV OMP_WAIT_POLICY=PASSIVE \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    Kestrel__Endpoints__Http__Url=http://+:8080 \
    Service__DataDirectory=/data
WORKDIR /app
COPY --from=build /app/ /app/
RUN mkdir -p /data && chown app:app /data
USER app
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["dotnet", "/app/service/UnlearnService.dll"]
