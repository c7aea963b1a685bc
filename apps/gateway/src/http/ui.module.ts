// The web UI's Nest side: its static files under /kgw/ui/ (see web-ui-files.ts).
import { type DynamicModule, Module } from '@nestjs/common';
import { UiController } from './ui.controller';
import { WebUiFiles } from '../ui/web-ui-files';

@Module({})
export class UiModule {
  static forRoot(files: WebUiFiles = WebUiFiles.load()): DynamicModule {
    return { module: UiModule, controllers: [UiController], providers: [{ provide: WebUiFiles, useValue: files }] };
  }
}
