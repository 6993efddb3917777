# Which c10d backends this LibTorch can give the dist layer. LibTorch exports the process groups it
# was built with, but their headers only compile with the matching USE_C10D_* macro, and Gloo's own
# headers are not part of every LibTorch (Debian: libgloo-dev; pip wheels: often absent).
find_path(PROSPECT_C10D_INCLUDE torch/csrc/distributed/c10d/TCPStore.hpp HINTS ${TORCH_INCLUDE_DIRS})
find_path(PROSPECT_GLOO_INCLUDE gloo/config.h HINTS ${TORCH_INCLUDE_DIRS})
find_path(PROSPECT_NCCL_INCLUDE nccl.h HINTS ${TORCH_INCLUDE_DIRS} $ENV{NCCL_HOME}/include $ENV{CUDA_HOME}/include)
if(NOT PROSPECT_C10D_INCLUDE)
  message(FATAL_ERROR "LibTorch without c10d headers (torch/csrc/distributed/c10d): the dist layer needs them")
endif()
if(PROSPECT_GLOO_INCLUDE)
  target_compile_definitions(prospect_dist PRIVATE USE_C10D_GLOO PROSPECT_HAVE_GLOO=1)
  target_include_directories(prospect_dist SYSTEM PRIVATE ${PROSPECT_GLOO_INCLUDE})
  message(STATUS "dist: Gloo backend (headers in ${PROSPECT_GLOO_INCLUDE})")
else()
  message(STATUS "dist: no Gloo headers; CPU data parallelism disabled (install libgloo-dev or gloo headers)")
endif()
# NCCL: CUDA builds of LibTorch only (TorchConfig sets these for CUDA).
if(PROSPECT_NCCL_INCLUDE AND (TORCH_CUDA_LIBRARIES OR C10_CUDA_LIBRARY)
   AND EXISTS ${PROSPECT_C10D_INCLUDE}/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp)
  target_compile_definitions(prospect_dist PRIVATE USE_C10D_NCCL PROSPECT_HAVE_NCCL=1)
  target_include_directories(prospect_dist SYSTEM PRIVATE ${PROSPECT_NCCL_INCLUDE})
  message(STATUS "dist: NCCL backend")
endif()
