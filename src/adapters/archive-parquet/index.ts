export {
  openParquetArchive,
  type ParquetArchive,
  type ParquetArchiveOptions,
  type ArchiveLogger,
} from './parquet-archive.js';
