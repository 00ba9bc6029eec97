using UnlearnService.Hosting;

// `UnlearnService migrate` applies database migrations and exits; anything else runs the service.
return await CommandRunner.RunAsync(args);
