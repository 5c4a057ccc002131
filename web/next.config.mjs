/** @type {import('next').NextConfig} */
const nextConfig = {
  // A static export, served by `maily api` at `/` (see docs/web.md).
  output: "export",
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  experimental: {
    optimizePackageImports: ["@mantine/core", "@mantine/hooks", "@tabler/icons-react"],
  },
};

export default nextConfig;
