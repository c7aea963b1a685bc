// The single-file kgw CLI's download under /kgw/cli/ (see cli-download.ts).
import { type DynamicModule, Module } from '@nestjs/common';
import { CliDownload } from '../cli/cli-download';
import { CliDownloadController } from './cli-download.controller';

@Module({})
export class CliDownloadModule {
  static forRoot(download: CliDownload = CliDownload.load()): DynamicModule {
    return {
      module: CliDownloadModule,
      controllers: [CliDownloadController],
      providers: [{ provide: CliDownload, useValue: download }],
    };
  }
}
